// webui.test.mjs — the web UI in real headless Chromium (Debian's
// chromium, driven by playwright-core; no browser download).
//
// Starts build/netstickd --no-usb with a catalog and four LUNs (LUN 1 is
// not removable, so an eject needs force; LUN 2 is a CD drive; LUN 3 has a
// persistent cache), then, as a person would: signs in, inserts from the
// catalog, ejects, force-ejects, sees a change made through the API arrive
// via the event stream, sees a failed insert explained, a CD drive shown
// as one, and warms an image into LUN 3's persistent cache, watching the
// progress bar move through the event stream, then cancels, and watches
// LUN 3's card graph the bytes a warm fetches (the "stats" events).  Screenshots
// go to build/webui-artifacts/.
//
//   node tests/webui/webui.test.mjs [NAME_REGEX]
//
// Closing line: "webui: N passed, N failed".
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const netstickd = process.env.NETSTICKD || path.join(repo, "build/netstickd");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const artifacts = path.join(repo, "build/webui-artifacts");
const TOKEN = "webui-test-token-0123456789";
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

// ---------------------------------------------------------------- daemon

async function startDaemon(tmp) {
  const images = path.join(tmp, "images");
  fs.mkdirSync(images);
  fs.writeFileSync(path.join(images, "installer.img"), Buffer.alloc(4 << 20, 1));
  fs.writeFileSync(path.join(images, "drivers.img"), Buffer.alloc(1 << 20, 2));
  fs.writeFileSync(path.join(images, "next.img"), Buffer.alloc(16 << 20, 3));
  const cfg = `api:
  port: 0
  token: "${TOKEN}"
  allowed_dir: ${images}
  allowed_schemes: [file, memory]
  webui_dir: ${path.join(repo, "webui")}
images:
  - name: installer
    source: ${images}/installer.img
    description: Debian installer
  - name: drivers
    source: ${images}/drivers.img
    readonly: true
    description: Driver disk
  - name: broken
    source: ${images}/missing.img
    description: Points nowhere
  - name: next
    source: ${images}/next.img
    readonly: true
    description: The next installer
luns:
  - {}
  - media: memory:2M
    removable: false
  - {type: cdrom}
  - layers: ["pcache:dir=${tmp}/cache,size-mib=64"]
`;
  fs.writeFileSync(path.join(tmp, "config.yaml"), cfg);
  const log = path.join(tmp, "netstickd.log");
  const out = fs.openSync(log, "w");
  const proc = spawn(netstickd, ["--no-usb", "-c", path.join(tmp, "config.yaml")],
                     { stdio: ["ignore", out, out] });
  for (let i = 0; i < 200; i++) {
    const m = /listening on http:\/\/[^:]+:(\d+)\//.exec(fs.readFileSync(log, "utf8"));
    if (m) return { proc, port: Number(m[1]), log };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill();
  throw new Error("netstickd did not start: " + fs.readFileSync(log, "utf8"));
}

async function apiCall(port, method, p, body) {
  const r = await fetch(`http://127.0.0.1:${port}${p}`, {
    method, headers: { Authorization: "Bearer " + TOKEN, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

// ---------------------------------------------------------------- tests

const lunCard = (page, id) => page.locator(`article.card[data-lun="${id}"]`);
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });

test("login_page_then_sign_in", async ({ page, base }) => {
  await page.goto(base);
  await page.locator("#login").waitFor({ state: "visible" });
  await page.fill("#token", "wrong-token-012345678");
  await page.click("#login-form button");
  await page.locator("#login-error").waitFor({ state: "visible" });
  check((await page.textContent("#login-error")).includes("refused"), "refused message");
  await shot(page, "01-login-refused");
  await page.fill("#token", TOKEN);
  await page.click("#login-form button");
  await lunCard(page, 0).waitFor();
  await page.locator("#live.on").waitFor();
  check((await page.textContent("#device")).includes("USB off (--no-usb)"), "device line");
});

test("insert_from_catalog", async ({ page }) => {
  const c = lunCard(page, 0);
  await c.locator(".state").filter({ hasText: "empty" }).waitFor();
  await c.locator("select.image").selectOption("installer");
  await c.locator(".insert-catalog button").click();
  await c.locator(".state").filter({ hasText: "ready" }).waitFor();
  const media = await c.locator(".media").textContent();
  check(media.includes("installer.img") && media.includes("4.0 MiB"), media);
  check((await c.locator(".message").textContent()).includes("Inserted installer"), "message");
  await shot(page, "02-inserted-from-catalog");
});

test("eject", async ({ page }) => {
  const c = lunCard(page, 0);
  await c.locator("button.eject").click();
  await c.locator(".state").filter({ hasText: "empty" }).waitFor();
  check((await c.locator(".media").textContent()).includes("empty drive"), "empty");
  await shot(page, "03-ejected");
});

test("forced_eject_after_409", async ({ page }) => {
  const c = lunCard(page, 1);
  await c.locator(".state").filter({ hasText: "ready" }).waitFor();
  await c.locator("button.eject").click();
  await c.locator("button.force").waitFor({ state: "visible" });
  check((await c.locator(".message").textContent()).length > 0, "refusal explained");
  await shot(page, "04-eject-refused");
  await c.locator("button.force").click();
  check((await c.locator("button.force").textContent()).includes("Confirm"), "asks to confirm");
  await c.locator("button.force").click();
  await c.locator(".state").filter({ hasText: "empty" }).waitFor();
  check((await c.locator(".message").textContent()).includes("forced"), "forced message");
  await shot(page, "05-force-ejected");
});

test("live_change_via_sse", async ({ page, port }) => {
  const c = lunCard(page, 0);
  const r = await apiCall(port, "PUT", "/api/v1/luns/0/media", { image: "drivers" });
  check(r.status === 200, "API insert " + r.status);
  await c.locator(".state").filter({ hasText: "ready" }).waitFor({ timeout: 5000 });
  const media = await c.locator(".media").textContent();
  check(media.includes("drivers.img") && media.includes("read-only"), media);
  await apiCall(port, "DELETE", "/api/v1/luns/0/media");
  await c.locator(".state").filter({ hasText: "empty" }).waitFor({ timeout: 5000 });
  await shot(page, "06-live-update");
});

test("failed_insert_shown_plainly", async ({ page }) => {
  const c = lunCard(page, 0);
  await c.locator("select.image").selectOption("broken");
  await c.locator(".insert-catalog button").click();
  await c.locator(".state").filter({ hasText: "error" }).waitFor();
  await c.locator(".lun-error").waitFor({ state: "visible" });
  const text = await c.locator(".lun-error").textContent();
  check(text.includes("missing.img"), text);
  check((await c.locator(".message").textContent()).includes("could not be opened"), "message");
  await shot(page, "07-insert-failed");
});

test("insert_by_path_refused_outside_allowed_dir", async ({ page }) => {
  const c = lunCard(page, 0);
  await c.locator("input.source").fill("/etc/passwd");
  await c.locator(".insert-source button").click();
  await c.locator(".message.bad").waitFor();
  check((await c.locator(".message").textContent()).includes("allowed_dir"), "policy message");
});

test("seed_form_builds_nocloud_drive", async ({ page, port }) => {
  const c = lunCard(page, 0);
  await c.locator("details.seed summary").click();
  await c.locator("select.seed-kind").selectOption("nocloud");
  await c.locator("input.seed-files").setInputFiles([
    { name: "user-data", mimeType: "text/plain", buffer: Buffer.from("#cloud-config\nhostname: n{{lun}}\n") },
    { name: "meta-data", mimeType: "text/plain", buffer: Buffer.from("instance-id: i-{{serial}}\n") },
    { name: "blob.bin", mimeType: "application/octet-stream", buffer: Buffer.from([0, 255, 0, 1]) },
  ]);
  await c.locator(".insert-seed button").click();
  await c.locator(".state").filter({ hasText: "ready" }).waitFor();
  const media = await c.locator(".media").textContent();
  check(/seed:sha256-[0-9a-f]{64}/.test(media) && media.includes("read-only"), media);
  const r = await apiCall(port, "GET", "/api/v1/luns/0");
  check(r.body.media.source.startsWith("seed:sha256-"), JSON.stringify(r.body));
  await shot(page, "08-seed-inserted");
});

test("seed_form_missing_file_explained", async ({ page }) => {
  const c = lunCard(page, 0);
  const before = await c.locator(".media").textContent();
  await c.locator("select.seed-kind").selectOption("kickstart");
  await c.locator("input.seed-files").setInputFiles([
    { name: "user-data", mimeType: "text/plain", buffer: Buffer.from("x") },
  ]);
  await c.locator(".insert-seed button").click();
  await c.locator(".message.bad").waitFor();
  check((await c.locator(".message").textContent()).includes("ks.cfg"), "names the missing file");
  check((await c.locator(".media").textContent()) === before, "nothing inserted");
  await shot(page, "09-seed-refused");
});

test("cdrom_drive_shows_type_and_disc", async ({ page }) => {
  const c = lunCard(page, 2);
  await c.locator(".state").filter({ hasText: "empty" }).waitFor();
  check((await c.locator(".badge.type").textContent()).includes("CD/DVD"), "type badge");
  check((await lunCard(page, 0).locator(".badge.type").textContent()) === "disk", "disk badge");
  check(await c.locator(".readonly-wrap").isHidden(), "no read-only choice on a CD");
  await c.locator("select.image").selectOption("installer");
  await c.locator(".insert-catalog button").click();
  await c.locator(".state").filter({ hasText: "ready" }).waitFor();
  const media = await c.locator(".media").textContent();
  check(media.includes("CD-ROM") && media.includes("of 2048") && media.includes("read-only"), media);
  await shot(page, "10-cdrom");
});

test("warm_progress_bar_moves_then_cancel", async ({ page }) => {
  const w = page.locator("#warm");
  await w.waitFor({ state: "visible" });
  await page.locator("#warm-image").selectOption("next");
  await page.fill("#warm-rate", "2");        // 16 MiB at 2 MiB/s: 8 s
  await page.click("#warm-form button");
  const job = page.locator("#warm-jobs li.job").first();
  await job.locator(".job-state").filter({ hasText: "running" }).waitFor();
  const bar = job.locator("progress.job-bar");
  // The bar moves with the "warm" events (the page never polls).
  const seen = new Set();
  for (let i = 0; i < 100 && seen.size < 3; i++) {
    seen.add(await bar.evaluate((b) => b.value));
    await page.waitForTimeout(100);
  }
  const values = [...seen];
  check(values.length >= 3 && values.every((v, k) => k === 0 || v > values[k - 1]),
        "bar values " + values.join(","));
  check((await job.locator(".job-info").textContent()).includes("MB/s"), "rate shown");
  await shot(page, "09-warm-running");
  await job.locator("button.job-cancel").click();
  await job.locator(".job-state").filter({ hasText: "cancelled" }).waitFor();
  check(await bar.evaluate((b) => b.value) < 1000, "stopped before the end");
  check((await job.locator("button.job-cancel").textContent()) === "Dismiss", "dismiss");
  await shot(page, "10-warm-cancelled");
  await job.locator("button.job-cancel").click();
  await job.waitFor({ state: "detached" });
});

test("warm_without_a_choice_is_explained", async ({ page }) => {
  await page.locator("#warm-image").selectOption("");
  await page.fill("#warm-source", "");
  await page.click("#warm-form button");
  await page.locator("#warm-message.bad").waitFor();
});

// Waits (bounded) until the async fn returns true; the page's CSP forbids
// page.waitForFunction's eval.
async function until(fn, what, ms = 10000) {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting for " + what);
}

// The LUN card's live graph and layer stats come from the "stats" events:
// a warm of the image LUN 3 holds shows bytes coming from the backend.
test("lun_card_graph_and_layers_move_during_warm", async ({ page }) => {
  const c = lunCard(page, 3);
  await c.locator("select.image").selectOption("next");
  await c.locator(".insert-catalog button").click();
  await c.locator(".state").filter({ hasText: "ready" }).waitFor();
  const layers = c.locator("details.layers");
  await layers.waitFor({ state: "visible" });
  check((await layers.locator("summary").textContent()).includes("pcache"), "summary");
  await layers.locator("summary").click();
  const cached = () => layers.locator(".layer-pcache dt", { hasText: "This image cached" })
    .locator("xpath=following-sibling::dd[1]").textContent();
  const before = await cached();
  check((await layers.locator(".layer-pcache").textContent()).includes("Hit ratio"), "hit ratio row");
  const svg = c.locator("svg.rate-graph");
  check((await svg.getAttribute("role")) === "img", "graph role");
  await page.locator("#warm-image").selectOption("next");
  // 1 MiB/s: the job still runs when it is cancelled below, some 6 s on
  // (at 2 MiB/s it could end first on a slow machine, and Cancel would
  // be Dismiss).
  await page.fill("#warm-rate", "1");
  await page.click("#warm-form button");
  const job = page.locator("#warm-jobs li.job").first();
  await job.locator(".job-state").filter({ hasText: "running" }).waitFor();
  // Rates need two samples a second apart: allow a few.
  const rate = (k) => c.getAttribute("data-rate-" + k);
  await until(async () => Number(await rate("backend")) > 0, "a from-backend rate");
  const key = c.locator(".key.backend");
  check(await key.isVisible(), "from-backend legend shown");
  const now = await c.locator(".rate-backend").textContent();
  check(/[1-9].* (kB|MB)\/s/.test(now), "from-backend rate " + now);
  const pts = await svg.locator("polyline.backend").getAttribute("points");
  check(pts.split(" ").some((p) => Number(p.split(",")[1]) < 90), "graph above zero: " + pts);
  // The rate and the label are redrawn each second: read both at once.
  await until(async () => c.evaluate((el) => {
    const t = el.querySelector(".rate-backend").textContent;
    return el.querySelector("svg.rate-graph").getAttribute("aria-label")
      .includes("from backend " + t);
  }), "the graph's aria-label to name the rate shown");
  await until(async () => (await cached()) !== before, "image cached to grow from " + before);
  await page.waitForTimeout(2500);   // a few seconds of graph to look at
  await shot(page, "11-lun-rates-during-warm");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, "12-lun-rates-dark");
  await page.emulateMedia({ colorScheme: "light" });
  await job.locator("button.job-cancel").click();
  await job.locator(".job-state").filter({ hasText: /cancelled|done/ }).waitFor();
  await job.locator("button.job-cancel").click();
  await job.waitFor({ state: "detached" });
  // Idle again: the current rates fall back to zero.
  await until(async () => (await rate("backend")) === "0", "the rate back to 0", 8000);
});

// ---------------------------------------------------------------- runner

async function main() {
  const only = new RegExp(process.argv[2] || "");
  fs.mkdirSync(artifacts, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netstick-webui."));
  let passed = 0, failed = 0, daemon, browser;
  try {
    daemon = await startDaemon(tmp);
    // A fresh --user-data-dir: playwright takes it as the profile argument.
    browser = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1100, height: 800 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"],
    });
    const page = browser.pages()[0] || await browser.newPage();
    page.setDefaultTimeout(8000);
    const consoleErrors = [];
    page.on("pageerror", (e) => consoleErrors.push(e.message));
    const ctx = { page, port: daemon.port, base: `http://127.0.0.1:${daemon.port}/` };
    for (const t of tests) {
      if (!only.test(t.name)) continue;
      try {
        await t.fn(ctx);
        check(consoleErrors.length === 0, "page errors: " + consoleErrors.join("; "));
        console.log("ok   " + t.name);
        passed++;
      } catch (e) {
        console.log("FAIL " + t.name + "\n  " + e.message.split("\n")[0]);
        await shot(page, "FAIL-" + t.name).catch(() => {});
        consoleErrors.length = 0;
        failed++;
      }
    }
    if (daemon.proc.exitCode !== null) {
      console.log("FAIL netstickd died:\n" + fs.readFileSync(daemon.log, "utf8"));
      failed++;
    }
  } catch (e) {
    console.log("FAIL setup: " + e.message);
    failed++;
  } finally {
    if (browser) await browser.close();
    if (daemon) daemon.proc.kill("SIGTERM");
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`webui: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
