// Referrer domains: rule text (validated once, when a rule is made) and the host of a client's
// Referer / Origin header (on every decision with referrer rules). nanoStream's rules name a bare
// domain, `*` (every referrer) or, here, `*.domain` (issue 5 §1). A referrer is hotlink friction,
// never an auth boundary: clients can forge it or leave it out (docs/reliability.md §2).
import { domainToASCII } from "node:url";

export type DomainResult = { ok: true; value: string } | { ok: false; reason: string };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * RFC 1035 §2.3.4 / RFC 1123 §2.1 host names: ≤ 253 chars, labels 1-63 of [a-z0-9-], no edge
 * hyphen; lowercase ASCII expected. Why `host` is not one, or null. Referrer rules and a playback
 * token's `domain` binding both name domains by this rule.
 */
export function hostNameProblem(host: string): string | null {
  if (host.length === 0 || host.length > 253) return "a domain has 1-253 characters";
  const labels = host.split(".");
  for (const label of labels) {
    if (!LABEL.test(label)) return `label "${label}" is not 1-63 of a-z, 0-9 and inner hyphens`;
  }
  // An all-digit last label is an IPv4 address, not a domain.
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return "the top-level label is all digits (an address, not a domain)";
  return null;
}

/**
 * Normalises a referrer rule: `*`, `*.example.com` or `example.com`; lowercased, one trailing dot
 * dropped, an internationalised name turned into punycode (as browsers send it in Referer).
 */
export function normaliseDomain(text: string): DomainResult {
  if (text === "*") return { ok: true, value: "*" };
  if (text.includes("://") || text.includes("/")) return { ok: false, reason: "a bare domain, not a URL" };
  const wildcard = text.startsWith("*.");
  const rest = (wildcard ? text.slice(2) : text).replace(/\.$/, "");
  if (rest.includes("*")) return { ok: false, reason: "a wildcard is only allowed as a leading `*.`" };
  if (rest.includes(":")) return { ok: false, reason: "no port: rules match the host only" };
  // domainToASCII returns "" for names that IDNA (UTS #46) refuses.
  const ascii = /^[\x21-\x7e]*$/.test(rest) ? rest.toLowerCase() : domainToASCII(rest);
  if (ascii === "") return { ok: false, reason: "not a valid internationalised domain name" };
  const problem = hostNameProblem(ascii);
  if (problem) return { ok: false, reason: problem };
  return { ok: true, value: wildcard ? `*.${ascii}` : ascii };
}

/**
 * The host of a Referer or Origin header value: lowercased, without scheme, user info, port,
 * path or a trailing dot; Unicode turned into punycode. A value without `://` is read as a bare
 * host (some non-browser players send one). `undefined` for a missing or empty header.
 * The one referrer-host rule (issue 11 §4): Guardian referrer rules and a playback token's
 * domain binding (src/auth/splay.ts) both read the header here (through pageHost).
 */
export function refererHost(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const scheme = header.indexOf("://");
  let start = scheme < 0 ? 0 : scheme + 3;
  let end = header.length;
  for (let i = start; i < end; i++) {
    const c = header.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) end = i;
  }
  const at = header.lastIndexOf("@", end - 1);
  if (at >= start) start = at + 1;
  if (header.charCodeAt(start) === 91 /* [ */) {
    // An IPv6 literal: the host is the bracketed part; no domain rule can match it, only `*`.
    const close = header.indexOf("]", start);
    if (close > 0 && close < end) end = close + 1;
  } else {
    const colon = header.indexOf(":", start);
    if (colon >= 0 && colon < end) end = colon;
  }
  if (header.charCodeAt(end - 1) === 46 /* . */) end--;
  if (end <= start) return undefined;
  const host = header.slice(start, end).toLowerCase();
  for (let i = 0; i < host.length; i++) {
    if (host.charCodeAt(i) > 127) return domainToASCII(host) || host;
  }
  return host;
}

/**
 * The host of the page that embeds a player: the Referer's, or the Origin's when there is no
 * Referer (an empty one counts as none). Guardian referrer rules and a playback token's domain
 * binding both ask this one question (issue 11 §4); a Referer that is present but names no host
 * (`https:///x`) is not replaced by the Origin, so the two headers are never mixed.
 */
export function pageHost(referer: string | undefined, origin: string | undefined): string | undefined {
  return refererHost(referer || origin);
}

/** Number of labels, the specificity unit of referrer rules. */
export function labelCount(domain: string): number {
  let n = 1;
  for (let i = 0; i < domain.length; i++) if (domain.charCodeAt(i) === 46) n++;
  return n;
}
