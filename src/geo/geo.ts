// The one geo lookup (docs/architecture.md §1: Guardian country rules and routing share it): the
// hand-made overrides table first (overrides.ts, issue 7 §2), then MaxMind-format `.mmdb` files
// (mmdb.ts). `geo.mmdbPath` may list several files separated by commas, because @ip-location-db
// ships IPv4 and IPv6 as two databases; the first one that knows an address answers.
//
// A database declares its IP version. Walked with an IPv6 address, an IPv4-only database
// (ip_version 4) answers with some unrelated network's record (seen here: 2a00:1450:4001::1
// "CN" from the IPv4 file, "DE" from the IPv6 one), so IPv6 addresses are only asked of IPv6
// databases; IPv4 addresses are asked of all (an IPv6 database holds IPv4 in ::/96).
// `::ffff:a.b.c.d` is a.b.c.d everywhere (docs/decisions.md §3).
//
// The files are watched (issue 7 §2: databases are updated in place by geoipupdate or a
// ConfigMap) and re-read together when one changes. A file that cannot be read or parsed keeps
// the databases in force; the new set replaces the old by one reference swap, so a lookup never
// sees half of a reload.
import { readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { GeoOverride } from "../config/schema.js";
import { parseAddress } from "../primitives/ip.js";
import type { Logger } from "../log.js";
import { WatchedFile } from "../util/watched-file.js";
import { MmdbDatabase } from "./mmdb.js";
import { compileOverrides, type OverrideTable } from "./overrides.js";
import type { Geo, GeoResult } from "./types.js";

export type { Geo, GeoResult } from "./types.js";

export { GeoOverrideError } from "./overrides.js";

export interface GeoOptions {
  /** Comma-separated `.mmdb` files; "" = none. */
  readonly mmdbPath: string;
  /** CIDR → region/location/country, checked before the databases. */
  readonly overrides?: readonly GeoOverride[];
  /** Re-read the databases when a file changes; default true (when there are files). */
  readonly watch?: boolean;
  readonly log?: Logger;
  /** After each reload attempt that found changed files: "error" = previous databases kept. */
  readonly onReload?: (result: "ok" | "error") => void;
  readonly pollMs?: number;
  readonly debounceMs?: number;
}

/** The databases in force; replaced whole on reload. */
interface Databases {
  /** Asked for IPv4 addresses, in configured order. */
  readonly all: readonly MmdbDatabase[];
  /** Asked for IPv6 addresses: the ip_version 6 ones. */
  readonly v6: readonly MmdbDatabase[];
  readonly builtAt: Date | undefined;
  readonly buffers: readonly Buffer[];
}

const EMPTY: Databases = { all: [], v6: [], builtAt: undefined, buffers: [] };

function databases(paths: readonly string[], buffers: Buffer[]): Databases {
  if (paths.length === 0) return EMPTY;
  const all = paths.map((path, i) => new MmdbDatabase(path, buffers[i]));
  return {
    all,
    v6: all.filter((d) => d.ipVersion === 6),
    builtAt: new Date(Math.min(...all.map((d) => d.builtAt.getTime()))),
    buffers,
  };
}

/**
 * What the files are now: inode, size and times of each. Taken before reading, so a write that
 * lands during the read changes it again and is read next time.
 */
function signature(paths: readonly string[]): string {
  return paths
    .map((p) => {
      try {
        const st = statSync(p);
        return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      } catch (err) {
        return `error:${(err as NodeJS.ErrnoException).code}`;
      }
    })
    .join("|");
}

class GeoLookup implements Geo {
  private dbs: Databases;
  /** Scratch for the parsed address (lookup is synchronous, never re-entered). */
  private readonly words = new Uint32Array(4);
  private readonly watchers: WatchedFile[] = [];
  /** The files' signature at the last read, good or bad: a bad file is reported once. */
  private seen: string;
  private loading = false;
  private again = false;
  private closed = false;

  constructor(
    private readonly paths: readonly string[],
    private readonly overrides: OverrideTable | null,
    private readonly opts: GeoOptions,
  ) {
    this.seen = signature(paths);
    // Synchronous at start: a missing or bad file stops start-up with its path.
    this.dbs = databases(
      paths,
      paths.map((p) => readFileSync(p)),
    );
    if (paths.length > 0 && opts.watch !== false) {
      for (const path of paths) {
        this.watchers.push(new WatchedFile({ path, onChange: () => this.changed(), pollMs: opts.pollMs, debounceMs: opts.debounceMs }));
      }
    }
  }

  get builtAt(): Date | undefined {
    return this.dbs.builtAt;
  }

  lookup(ip: string): GeoResult | null {
    const words = this.words;
    const family = parseAddress(ip, words);
    if (family === 0) return null;
    const o = this.overrides === null ? null : this.overrides.lookup(family, words);
    if (o === null) return this.fromDatabases(family, words);
    // An override places a network for routing; without its own `country` the database's still
    // counts, so placing a network never takes it out of the Guardian's country rules.
    if (o.country !== undefined) return o;
    const country = this.fromDatabases(family, words)?.country;
    return country === undefined ? o : { ...o, country };
  }

  private fromDatabases(family: 4 | 6, words: Uint32Array): GeoResult | null {
    const list = family === 4 ? this.dbs.all : this.dbs.v6;
    for (let i = 0; i < list.length; i++) {
      const r = list[i].lookup(family, words);
      if (r !== null) return r;
    }
    return null;
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    // Each database holds its whole file in memory; drop them so they can be collected.
    this.dbs = EMPTY;
  }

  private changed(): void {
    if (this.closed) return;
    if (this.loading) {
      this.again = true; // a change during a read: look once more when it is done
      return;
    }
    this.loading = true;
    this.again = false;
    this.reload()
      .catch((err) => this.opts.log?.error("geo reload failed", { reason: String(err) }))
      .finally(() => {
        this.loading = false;
        if (this.again) this.changed();
      });
  }

  private async reload(): Promise<void> {
    const sig = signature(this.paths);
    if (sig === this.seen) return; // another file in the directory, or the first poll
    this.seen = sig;
    let next: Databases;
    try {
      // Read asynchronously: tens of MB, and the event loop is serving media meanwhile.
      next = databases(this.paths, await Promise.all(this.paths.map((p) => readFile(p))));
    } catch (err) {
      if (this.closed) return;
      this.opts.log?.warn("geo database rejected, previous databases kept", { reason: (err as Error).message });
      this.opts.onReload?.("error");
      return;
    }
    if (this.closed) return;
    const prev = this.dbs.buffers;
    if (next.buffers.every((b, i) => prev[i] !== undefined && b.equals(prev[i]))) return; // touched, not changed
    this.dbs = next;
    this.opts.log?.info("geo databases reloaded", { paths: this.paths.join(","), builtAt: next.builtAt?.toISOString() });
    this.opts.onReload?.("ok");
  }
}

/**
 * Opens the databases and compiles the overrides. Throws on an
 * unreadable or invalid file (naming it) and on a bad override (GeoOverrideError, naming
 * `geo.overrides.N.field`).
 */
export function openGeo(opts: GeoOptions): Geo {
  const overrides = compileOverrides(opts.overrides ?? []);
  const paths = opts.mmdbPath
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  return new GeoLookup(paths, overrides, opts);
}
