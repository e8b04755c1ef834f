// The pairs of a form or query string as URLSearchParams gives them, at a fraction of its cost
// (issue 14 §9): hook bodies, hook URLs, `/v1/authorize/play` and every play's query.
/**
 * The pairs of an `application/x-www-form-urlencoded` string, exactly as `new URLSearchParams(raw)`
 * gives them, at half its cost on a hook's form (measured for issue 14 §9, bench/hooks.ts): split on
 * `&` and `=`, decode only what has an escape. A value decodeURIComponent refuses (a malformed or
 * non-UTF-8 escape, which URLSearchParams keeps or replaces) sends the whole string to URLSearchParams,
 * and so does a surrogate (which it replaces; a body decoded from UTF-8 has none).
 */
export function formPairs(raw: string): [string, string][] {
  if (SURROGATE.test(raw)) return [...new URLSearchParams(raw)];
  const pairs: [string, string][] = [];
  try {
    // URLSearchParams drops one leading `?` of its string. Slices of `raw` itself, no split parts.
    // `eq` is the next `=` at or after `start` (-1: none left), found again only once passed: a
    // body of many parts without `=` stays one pass, not one scan to the end per part.
    let eq = -2;
    for (let start = raw.startsWith("?") ? 1 : 0; start < raw.length;) {
      let end = raw.indexOf("&", start);
      if (end < 0) end = raw.length;
      if (end > start) {
        if (eq !== -1 && eq < start) eq = raw.indexOf("=", start);
        pairs.push(eq < 0 || eq > end ? [formDecode(raw.slice(start, end)), ""] : [formDecode(raw.slice(start, eq)), formDecode(raw.slice(eq + 1, end))]);
      }
      start = end + 1;
    }
  } catch {
    return [...new URLSearchParams(raw)];
  }
  return pairs;
}

const SURROGATE = /[\uD800-\uDFFF]/;
const formDecode = (s: string): string => (s.includes("%") || s.includes("+") ? decodeURIComponent(s.replace(/\+/g, " ")) : s);
