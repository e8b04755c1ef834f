// Tells when a file may have changed, however it was changed (issue 5 §3, issue 7 §2): in-place
// writes, atomic renames (editors, `mv new old`) and Kubernetes ConfigMap updates, which swap a
// `..data` symlink in the directory and never touch the path itself. Hence fs.watch on the
// *directory*, not the file (a file watch follows the old inode after a rename and goes quiet),
// and no filtering on the event's file name (the ConfigMap event names `..data`). fs.watch stays
// silent on some file systems (NFS, some container overlays), so a stat poll backs it up.
//
// onChange can fire when nothing changed (any event in the directory, the first poll): the
// consumer compares what it reads with what it has. Events are debounced because writers work
// in steps (truncate, write, rename) and a read in between sees half a file.
import { statSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";

export interface WatchedFileOptions {
  readonly path: string;
  readonly onChange: () => void;
  /** How often the file is stat'ed, for file systems where fs.watch reports nothing. */
  readonly pollMs?: number;
  /** Quiet time after the last event before onChange. */
  readonly debounceMs?: number;
}

export class WatchedFile {
  private watcher: FSWatcher | null = null;
  private readonly poller: NodeJS.Timeout;
  private debounce: NodeJS.Timeout | null = null;
  /** inode, size and mtime at the last poll; "" until the first, so the first poll always reports. */
  private lastStat = "";
  private closed = false;

  constructor(private readonly opts: WatchedFileOptions) {
    try {
      this.watcher = watch(dirname(opts.path), { persistent: false }, () => this.schedule());
      this.watcher.on("error", () => this.stopWatching());
    } catch {
      this.watcher = null; // the poll still sees changes
    }
    this.poller = setInterval(() => this.poll(), opts.pollMs ?? 500);
    this.poller.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poller);
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = null;
    this.stopWatching();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.opts.onChange();
    }, this.opts.debounceMs ?? 100);
    this.debounce.unref();
  }

  private poll(): void {
    let sig: string;
    try {
      const st = statSync(this.opts.path);
      sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      sig = "missing";
    }
    if (sig === this.lastStat) return;
    this.lastStat = sig;
    this.schedule();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = null;
  }
}
