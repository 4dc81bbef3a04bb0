// End-to-end browser test of `concord-annotator serve` (issue #7), run by `make test-web` / `make test`:
// a real anvil devnet, the real CLIs, Debian's Chromium driven by playwright-core.
// Join a batch in the page (a later block draws the task), label every item with the keyboard, submit (the
// bundle commits), reveal, settle, and check the on-chain result; a dataset item containing <script> must render as text; a picture item shows
// only the copy verified against its hash; requests without the session
// token are refused; the server listens on loopback only. Leaves a screenshot in target/web/.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir, networkInterfaces } from "node:os";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const root = resolve(new URL("../..", import.meta.url).pathname);
const bin = (name) => join(root, "target", "debug", name);
const dir = mkdtempSync(join(tmpdir(), "concord-web-"));
const deployment = join(dir, "local.json");
const children = [];

function cleanup() {
  for (const c of children) {
    try { c.kill("SIGTERM"); } catch { /* already gone */ }
  }
}
process.on("exit", cleanup);

function waitForLine(child, regex, what) {
  return new Promise((ok, fail) => {
    let buf = "";
    const timer = setTimeout(() => fail(new Error(`timed out waiting for ${what}: ${buf}`)), 60_000);
    const on = (d) => {
      buf += d.toString();
      const m = buf.match(regex);
      if (m) { clearTimeout(timer); ok(m); }
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.on("exit", (code) => fail(new Error(`${what} exited with ${code}: ${buf}`)));
  });
}

async function main() {
  // 1. Devnet.
  const devnet = spawn(bin("concord-devnet"), ["--port", "0", "--annotators", "3", "--out", deployment], { cwd: root });
  children.push(devnet);
  // One wait for the whole banner: the lines may arrive in a single chunk.
  const [, rpc] = await waitForLine(devnet, /anvil\s+(http:\/\/\S+)[\s\S]*press Ctrl-C/, "devnet ready");
  const accounts = JSON.parse(readFileSync(join(dir, "local.accounts.json"), "utf8"));
  const env = { ...process.env, ETH_RPC_URL: rpc, CONCORD_DEPLOYMENT: deployment, CONCORD_HOME: join(dir, "home") };
  const cli = (name, key, args) =>
    JSON.parse(execFileSync(bin(name), [...args, "--json"], { cwd: root, env: { ...env, ETH_PRIVATE_KEY: key } }).toString().trim().split("\n").pop());

  // 2. A one-task batch whose first item tries to inject a script.
  const items = join(dir, "items.jsonl");
  writeFileSync(items, [
    JSON.stringify({ id: "x1", text: "<script>window.__pwned = 1</script> a cat on a mat" }),
    JSON.stringify({ id: "x2", text: "a dog in the fog" }),
    JSON.stringify({ id: "x3", text: "a bird on a wire", uri: "bird.png" }),
  ].join("\n") + "\n");
  // Item x3 is a picture: `create` hashes it into the manifest; the page shows only the copy the server verified.
  writeFileSync(join(dir, "bird.png"), Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64"));
  // Published over HTTP by the requester's own server: the page's server fetches the manifest and the picture
  // from there and verifies both.
  const pubPort = await new Promise((ok) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); }); });
  const created = cli("concord-requester", accounts.requester.privateKey, ["create", items, "--classes", "cat,dog,bird", "--task-size", "3", "--out-dir", join(dir, "req"), "--publish-url", `http://127.0.0.1:${pubPort}/`]);
  const batch = created.batchId;
  assert.match(created.manifestUri, /^http:\/\/127\.0\.0\.1:\d+\/manifest-/);
  const pub = spawn(bin("concord-requester"), ["serve", "--publish", join(dir, "req"), "--port", String(pubPort)], { cwd: root, env });
  children.push(pub);
  await waitForLine(pub, /serving the publication folder/, "publication server");

  // 3. Two annotators join through the CLI; annotator 0 joins in the browser, which fills the round (one task,
  //    three lanes) and seals it: a block later everyone's task is drawn.
  for (const a of accounts.annotators.slice(1)) {
    cli("concord-annotator", a.privateKey, ["stake", "100"]);
    const j = cli("concord-annotator", a.privateKey, ["join", "-b", String(batch)]);
    assert.equal(j.joined.size, 1, "a one-task batch: a bundle of one task");
  }
  const me = accounts.annotators[0];
  cli("concord-annotator", me.privateKey, ["stake", "100"]);
  const server = spawn(bin("concord-annotator"), ["serve"], { cwd: root, env: { ...env, ETH_PRIVATE_KEY: me.privateKey } });
  children.push(server);
  const [, url] = await waitForLine(server, /open (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/, "serve");
  const base = url.split("/?")[0];

  // 4. Security checks.
  assert.equal((await fetch(`${base}/api/state`)).status, 401, "API without token refused");
  assert.equal((await fetch(`${base}/`)).status, 401, "page without token refused");
  assert.equal((await fetch(`${base}/api/state`, { headers: { "x-concord-token": "0".repeat(32) } })).status, 401, "wrong token refused");
  const token = url.split("token=")[1];
  assert.equal((await fetch(`${base}/api/state`, { headers: { "x-concord-token": token, origin: "http://evil.example" } })).status, 403, "other origins refused");
  const port = new URL(base).port;
  const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === "IPv4" && !i.internal);
  if (external) {
    await assert.rejects(fetch(`http://${external.address}:${port}/`), "not reachable on a non-loopback address");
  }

  assert.equal((await fetch(`${base}/api/media?file=${"0".repeat(64)}.png`)).status, 401, "media without token refused");
  assert.equal((await fetch(`${base}/api/media?file=..%2Fkey`, { headers: { "x-concord-token": token } })).status, 404, "only verified copies by hash");

  // 5. The browser.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    await page.getByRole("button", { name: "Join" }).first().click();
    await page.waitForSelector("#labeler:not([hidden])", { timeout: 30_000 });
    // The round is sealed and the task drawn: the CLI annotators label and commit theirs.
    for (const a of accounts.annotators.slice(1)) {
      cli("concord-annotator", a.privateKey, ["label", "-b", String(batch), "--labels", "cat,dog,bird", "-t", "0", "--commit"]);
    }
    const first = await page.textContent("#item");
    assert.equal(first, "<script>window.__pwned = 1</script> a cat on a mat", "dataset text renders as text");
    assert.equal(await page.evaluate(() => document.querySelectorAll("#item script").length), 0, "no script element injected");
    assert.equal(await page.evaluate(() => window.__pwned), undefined, "the dataset script never ran");
    assert.match(await page.textContent("#progress"), /item 1 of 3/);
    assert.match(await page.textContent("#deadlines"), /commit before .* reveal before/);
    // Label with the keyboard: 1 = cat, 2 = dog, 3 = bird (each key advances to the next item).
    await page.keyboard.press("1");
    await page.keyboard.press("2");
    // Item 3: the picture, loaded from the verified copy (a blob from /api/media), decoded by the browser.
    await page.waitForSelector("#item img[data-verified]", { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector("#item img[data-verified]").naturalWidth === 1, null, { timeout: 10_000 });
    assert.match(await page.getAttribute("#item img", "src"), /^blob:/, "never the item's URI itself");
    await page.keyboard.press("3");
    assert.match(await page.textContent("#progress"), /item 3 of 3 .* labeled 3/);
    await page.keyboard.press("ArrowLeft");
    assert.match(await page.textContent("#progress"), /item 2 of 3/, "arrow keys move back");
    mkdirSync(join(root, "target", "web"), { recursive: true });
    await page.screenshot({ path: join(root, "target", "web", "annotator.png"), fullPage: true });
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("msg").textContent.startsWith("committed bundle"), null, { timeout: 30_000 });
    // Every position of the batch is committed, so the reveal is open.
    await page.getByRole("button", { name: "Reveal open bundles" }).click();
    await page.waitForFunction(() => /revealed 1 bundle/.test(document.getElementById("msg").textContent), null, { timeout: 30_000 });
    assert.deepEqual(errors, [], "no page errors");
  } finally {
    await browser.close();
  }

  // 6. Everyone else reveals; anyone settles; the chain shows the browser annotator's labels accepted.
  for (const a of accounts.annotators.slice(1)) cli("concord-annotator", a.privateKey, ["reveal"]);
  const settled = cli("concord-requester", accounts.requester.privateKey, ["settle", "-b", String(batch)]);
  assert.equal(settled.tasksSettled, 1);
  const status = cli("concord-annotator", me.privateKey, ["status"]);
  assert.equal(status.standing.accepted, 3, "3 labels from the browser accepted on-chain");
  assert.equal(status.bundles[0].status, "revealed");
  // 7. The requester's read-only view shows progress and the quality report.
  const view = spawn(bin("concord-requester"), ["serve", "-b", String(batch)], { cwd: root, env });
  children.push(view);
  const [, viewUrl] = await waitForLine(view, /open (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/, "requester serve");
  assert.equal((await fetch(viewUrl.split("?")[0])).status, 401, "requester view without token refused");
  const html = await (await fetch(viewUrl)).text();
  assert.match(html, /tasks settled<\/th><td>1 \/ 1/);
  assert.match(html, /Quality report/);
  assert.doesNotMatch(html, /<script>window/, "no raw dataset script in the report");

  // 8. The "write" view: a generation batch; a datapoint committed from the page (text and salt kept locally
  //    first), then published after the submit deadline; the page lists it and the chain has it.
  const prompts = join(dir, "prompts.jsonl");
  writeFileSync(prompts, JSON.stringify({ id: "q", text: "A question with its answer." }) + "\n");
  const gen = cli("concord-requester", accounts.requester.privateKey, ["generate", "create", prompts, "--cap", "2"]);
  const browser2 = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const page = await browser2.newPage({ viewport: { width: 1100, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector(`#generations tr[data-generation="${gen.generation}"]`, { timeout: 30_000 });
    assert.match(await page.textContent(`#generations tr[data-generation="${gen.generation}"]`), /submit/);
    assert.match(await page.textContent("#generations .instruction"), /0 · q: A question with its answer\./, "instructions checked and listed");
    await page.fill("#genBatch", String(gen.generation));
    await page.fill("#genText", "Q: What is 6 * 7? <b>A</b>: 42.");
    await page.getByRole("button", { name: "Commit datapoint" }).click();
    await page.waitForFunction(() => document.getElementById("msg").textContent.startsWith("committed to generation"), null, { timeout: 30_000 });
    await page.waitForSelector("#mine tr.datapoint", { timeout: 30_000 });
    assert.match(await page.textContent("#mine"), /committed/);
    assert.equal(await page.evaluate(() => document.querySelectorAll("#mine b").length), 0, "a datapoint renders as text");
    // Past the submit deadline (one hour), then publish from the page.
    const rpcCall = (method, params) => fetch(rpc, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    await rpcCall("evm_increaseTime", [3601]);
    await rpcCall("evm_mine", []);
    await page.getByRole("button", { name: "Publish my datapoints" }).click();
    await page.waitForFunction(() => /published 1 datapoint/.test(document.getElementById("msg").textContent), null, { timeout: 30_000 });
    await page.waitForFunction(() => /published/.test(document.getElementById("mine").textContent), null, { timeout: 30_000 });
    await page.screenshot({ path: join(root, "target", "web", "write.png"), fullPage: true });
    assert.deepEqual(errors, [], "no page errors in the write view");
  } finally {
    await browser2.close();
  }
  console.log(`browser e2e ok: 3 labels committed and revealed from the page, settled on-chain; a datapoint committed and published from the write view; screenshots target/web/annotator.png, write.png`);
}

main().then(() => { cleanup(); process.exit(0); }, (e) => { console.error(e); cleanup(); process.exit(1); });
