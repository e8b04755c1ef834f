// The dashboard in a real browser (issue 16 §11): Debian's chromium driven by playwright-core, a
// real edge, ffmpeg publishing. One browser for the file; each step finds controls by role and
// name, as a person with a screen reader would. Screenshots of every page at 1280 and 390 px go
// to test-output/dashboard/ (gitignored).
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { chromium, type Browser, type Page } from "playwright-core";
import { startEdge } from "../helpers/edge.js";
import { publish } from "../helpers/ffmpeg.js";
import { waitFor } from "../helpers/wait.js";

const SHOTS = fileURLToPath(new URL("../../test-output/dashboard/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const WIDTHS = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } };

/** Frames the preview's <video> has decoded so far. */
const framesOf = (page: Page) => page.evaluate(() => document.querySelector("video")?.getVideoPlaybackQuality().totalVideoFrames ?? 0);

async function signIn(page: Page, base: string, key: string) {
  await page.goto(`${base}/dashboard/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function shoot(page: Page, name: string) {
  for (const [size, viewport] of Object.entries(WIDTHS)) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: `${SHOTS}${name}-${size}.png`, fullPage: true });
  }
  await page.setViewportSize(WIDTHS.desktop);
}

t.test("the dashboard, end to end", async (t) => {
  mkdirSync(SHOTS, { recursive: true });
  // guardian.enforceOnActive stays off: the rule's own enforceOnActive, ticked in the form, cuts the
  // running preview (issue 16 §5, §11). Tokens required: the preview must fetch one to play at all.
  const edge = await startEdge(t, { EDGE_PUBLIC_HOST: "127.0.0.1", EDGE_AUTH_PLAYBACK_REQUIRED: "true" });
  const base = `http://127.0.0.1:${edge.addresses.api.port}`;
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Root in CI has no user namespace for the sandbox; the page is our own, on loopback.
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
  });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: WIDTHS.desktop });
  // Well past any wait below; a step that fails says so in seconds, not after playwright's 30.
  context.setDefaultTimeout(10_000);
  const admin = await context.newPage();
  const errors: string[] = [];
  admin.on("pageerror", (err) => errors.push(err.message));

  await t.test("a wrong key gets a clear message", async (t) => {
    await signIn(admin, base, "not-the-key");
    await admin.getByRole("alert").filter({ hasText: "not valid" }).waitFor();
    t.match(await admin.getByRole("alert").textContent(), /Sign-in failed: this API key is not valid/);
    await shoot(admin, "sign-in-refused");
  });

  let name = "";
  let id = "";
  await t.test("sign in as admin and create a stream", async (t) => {
    await signIn(admin, base, edge.apiKey);
    await admin.getByText("Role: nanoAdmin").waitFor();
    await admin.getByLabel("Tags (comma-separated)").fill("e2e, demo");
    await admin.getByRole("button", { name: "Create stream" }).click();
    name = await admin.getByRole("textbox", { name: "Stream key", exact: true }).inputValue();
    t.match(name, /^[\w-]+$/, "the new stream's key is shown to copy");
    t.match(await admin.getByRole("textbox", { name: "OBS server" }).inputValue(), /^rtmp:\/\/127\.0\.0\.1:\d+\/live$/);
    const row = admin.getByRole("row").filter({ hasText: name });
    await row.waitFor();
    t.match(await row.textContent(), /created.*e2e, demo/);
    id = (await row.getAttribute("data-id")) as string;
  });

  const publisher = publish(edge.rtmpUrl(name), { seconds: 60 });
  t.teardown(() => publisher.child.kill("SIGKILL"));

  await t.test("the list follows the stream going live without a reload", async () => {
    await admin.getByRole("row").filter({ hasText: name }).getByText("live", { exact: true }).waitFor({ timeout: 15_000 });
    await shoot(admin, "streams");
  });

  await t.test("the stream page's preview decodes frames", async (t) => {
    await admin.getByRole("link", { name, exact: true }).click();
    await admin.getByRole("heading", { name: `Stream ${name}` }).waitFor();
    await admin.getByText("Preview playing.").waitFor();
    await waitFor("preview frames", async () => (await framesOf(admin)) > 10, 15_000);
    const before = await framesOf(admin);
    await waitFor("more preview frames", async () => (await framesOf(admin)) > before + 10, 5_000);
    t.ok(await admin.evaluate(() => document.querySelector("video")?.muted), "the preview is muted");
    await admin.getByText(/^Ingest [1-9]\d* kbit\/s .*, 1 viewer$/).waitFor();
    await admin.getByRole("row").filter({ hasText: "player" }).waitFor();
    await shoot(admin, "stream");
  });

  // A second tab (its own sessionStorage, so its own sign-in) changes things while the first plays.
  const other = await context.newPage();
  await t.test("a Guardian rule with its own enforceOnActive cuts the preview", async (t) => {
    // A report-mode rule and one play it would have refused: the page lists the request.
    t.equal((await edge.api("/guardian/ip", { method: "POST", json: { ip: "127.0.0.0/8", type: "deny", mode: "report" } })).status, 200);
    await (await fetch(edge.flvUrl(name))).body?.cancel();
    await signIn(other, base, edge.apiKey);
    await other.getByRole("link", { name: "Guardian" }).click();
    await other.getByText("New rules apply to new connections only").waitFor();
    const wouldDeny = other
      .getByRole("region", { name: /^Latest requests report-mode rules would have refused/ })
      .getByRole("row")
      .nth(1);
    t.match(await wouldDeny.textContent(), /ip 127\.0\.0\.0\/8playflv127\.0\.0\.1ref:[0-9a-f]{12}$/, "the would-deny, by stream reference");
    await other.getByLabel("IP address or CIDR").fill("127.0.0.1");
    await other.getByLabel("Scope").selectOption("stream");
    await other.getByLabel("Stream name or tag").fill(name);
    await other.getByLabel("End running sessions it refuses").check();
    await other.getByRole("button", { name: "Add rule" }).click();
    const row = other.getByRole("row").filter({ hasText: `stream ${name}` });
    await row.waitFor();
    t.match(await row.textContent(), /enforce\s*yes/, "the rule is listed with its flag");
    await admin.getByText(/Preview ended/).waitFor({ timeout: 10_000 });
    const cut = await framesOf(admin);
    await new Promise((r) => setTimeout(r, 1000));
    t.ok((await framesOf(admin)) <= cut + 1, "no frames after the cut");
    t.equal(publisher.child.exitCode, null, "the publisher (a play-only rule) keeps going");
    await shoot(other, "guardian");
    await other.getByRole("button", { name: `Delete rule ip 127.0.0.1` }).click();
    await other.getByRole("button", { name: `Delete rule ip 127.0.0.0/8` }).click();
    await other.getByText("No rules.").waitFor();
  });

  await t.test("locking the stream from its page kicks the publisher", async (t) => {
    await admin.getByRole("button", { name: `Lock ${name}` }).click();
    await admin.getByRole("dialog").getByRole("button", { name: "Lock" }).click();
    const exited = await Promise.race([publisher.exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    t.ok(exited, "ffmpeg's publish ended");
    await admin.getByText("locked", { exact: true }).first().waitFor();
    t.equal(((await (await edge.api(`/stream/${id}`)).json()) as { state: string }).state, "locked");
  });

  await t.test("the other pages at both widths", async () => {
    for (const [link, heading, shot] of [
      ["Sessions", "Sessions", "sessions"],
      ["Edges", "Edges", "edges"],
    ]) {
      await other.getByRole("link", { name: link }).click();
      await other.getByRole("heading", { name: heading, level: 1 }).waitFor();
      await shoot(other, shot);
    }
    // A single edge: no fleet registry, no drain control (dashboard-fleet.test.ts has the fleet).
    t.equal(await other.getByRole("button", { name: /^(Drain|Undrain) / }).count(), 0, "no drain control on a single edge");
    await other.getByRole("link", { name: "Tokens" }).click();
    await other.getByLabel("Streams or group").fill(name);
    await other.getByRole("button", { name: "Issue token" }).click();
    t.match(await other.getByRole("textbox", { name: "Player URL 1" }).inputValue(), new RegExp(`/live/${name}\\.flv\\?jwtoken=ey`));
    await shoot(other, "tokens");
  });

  let readOnlyKey = "";
  await t.test("an admin hands out a read-only key", async (t) => {
    await other.getByRole("link", { name: "People" }).click();
    await other.getByLabel("Label").fill("Ana (support)");
    await other.getByLabel("Role").selectOption("nanoReadOnly");
    await other.getByRole("button", { name: "Create key" }).click();
    readOnlyKey = await other.getByRole("textbox", { name: "New API key" }).inputValue();
    t.match(readOnlyKey, /^bek_/);
    await shoot(other, "people");
  });

  await t.test("a read-only key sees no write control, and its API writes are refused", async (t) => {
    const reader = await context.newPage();
    // By keyboard alone: the key field has focus on load, Enter signs in, links open with Enter.
    await reader.goto(`${base}/dashboard/`);
    await reader.keyboard.type(readOnlyKey);
    await reader.keyboard.press("Enter");
    await reader.getByText("Role: nanoReadOnly").waitFor();
    await reader.getByRole("row").filter({ hasText: name }).waitFor();
    for (const button of ["Create stream", `Lock ${name}`, `Unlock ${name}`, `Delete ${name}`]) {
      t.equal(await reader.getByRole("button", { name: button }).count(), 0, `no ${button}`);
    }
    await reader.getByRole("link", { name, exact: true }).click();
    await reader.getByRole("button", { name: "Start preview" }).click();
    await reader.getByText("a read-only key cannot issue one").waitFor();
    t.equal((await reader.getByRole("button", { name: `Lock ${name}` }).count()) + (await reader.getByRole("button", { name: `Unlock ${name}` }).count()), 0);
    t.equal(await reader.getByRole("link", { name: "People" }).count(), 0);
    t.equal(await reader.getByRole("link", { name: "Tokens" }).count(), 0);
    await reader.getByRole("link", { name: "Guardian" }).focus();
    await reader.keyboard.press("Enter");
    await reader.getByRole("heading", { name: "Guardian" }).waitFor();
    t.equal(await reader.getByRole("button", { name: "Add rule" }).count(), 0);
    await shoot(reader, "read-only-guardian");
    // The API refuses what the page does not offer, from the page's own origin too.
    const statuses = await reader.evaluate(async (key) => {
      const call = (path: string, method: string, body?: unknown) =>
        fetch(path, {
          method,
          headers: { "X-BINTU-APIKEY": key, "Content-Type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        }).then((r) => r.status);
      return [await call("/stream", "POST", {}), await call("/guardian/ip", "POST", { ip: "192.0.2.1", type: "deny" }), await call("/v1/keys", "GET")];
    }, readOnlyKey);
    t.same(statuses, [403, 403, 403]);

    // Revoking the key signs its page out through the live-update stream.
    await other.getByRole("button", { name: "Revoke key Ana (support)" }).click();
    await reader.getByRole("alert").filter({ hasText: "revoked" }).waitFor({ timeout: 5000 });
    await reader.close();
  });

  t.same(errors, [], "no script error on the page");
});
