// Referrer domains (issue 5 §1): rule text — DNS label rules, wildcards, IDN — and the host of a
// Referer / Origin header. test/primitives/referrer-host.test.ts runs headers through both users.
import t from "tap";
import { normaliseDomain, refererHost } from "../../src/primitives/domain.js";

t.test("referrer domains: DNS label rules, wildcards, IDN", async (t) => {
  const good: [string, string][] = [
    ["Example.COM", "example.com"],
    ["example.com.", "example.com"],
    ["*", "*"],
    ["*.Example.com", "*.example.com"],
    ["bücher.example", "xn--bcher-kva.example"],
    ["*.münchen.de", "*.xn--mnchen-3ya.de"],
    ["a-b.c0.io", "a-b.c0.io"],
    ["localhost", "localhost"],
    [`${"a".repeat(63)}.com`, `${"a".repeat(63)}.com`],
  ];
  for (const [input, value] of good) t.same(normaliseDomain(input), { ok: true, value }, input);
  const bad = [
    "",
    "https://example.com/",
    "example.com/path",
    "ex*ample.com",
    "*example.com",
    "a.*.com",
    "-a.com",
    "a-.com",
    "a..com",
    "a_b.com",
    "1.2.3.4",
    "example.123",
    `${"a".repeat(64)}.com`,
    `${"a.".repeat(127)}com`,
    "example.com:8080",
    "exa mple.com",
  ];
  for (const input of bad) t.notOk(normaliseDomain(input).ok, `refused: ${input}`);
});

t.test("referrer header → host", async (t) => {
  const cases: [string | undefined, string | undefined][] = [
    ["https://App.Example.com:8443/p?q#f", "app.example.com"],
    ["https://example.com./", "example.com"],
    ["http://u:p@example.com/", "example.com"],
    ["https://[2001:db8::1]:8080/", "[2001:db8::1]"],
    ["example.com/page", "example.com"],
    ["https://bücher.example/", "xn--bcher-kva.example"],
    ["null", "null"],
    ["", undefined],
    [undefined, undefined],
    ["https:///path", undefined],
  ];
  for (const [header, host] of cases) t.equal(refererHost(header), host, String(header));
});
