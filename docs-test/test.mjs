// Drives GET /docs (Redoc, served by imgshare) in Debian's headless chromium.
// Usage: node docs-test/test.mjs http://127.0.0.1:PORT   (docs-test/run.sh starts the server)
//
// Checks: the add-member operation is rendered with its request body and its
// responses (and the 200 and 4XX schemas expand); every request the page made
// went to the server's own origin; the console has no errors.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const base = process.argv[2];
assert.ok(base, 'usage: node test.mjs <server base URL>');
const origin = new URL(base).origin;

const userDataDir = mkdtempSync(join(tmpdir(), 'imgshare-docs-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
});

const requests = [];   // every URL the page (or its workers) asked for
const problems = [];   // console errors, page errors, failed or 4xx/5xx loads
context.on('request', (r) => requests.push(r.url()));
context.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
context.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
context.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
const page = context.pages()[0] ?? await context.newPage();
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

let failed = false;
const check = async (what, fn) => {
  try {
    await fn();
    console.log(`ok: ${what}`);
  } catch (e) {
    failed = true;
    console.log(`FAIL: ${what}\n  ${String(e.message).split('\n').join('\n  ')}`);
  }
};

try {
  const started = Date.now();
  const rsp = await page.goto(`${base}/docs#tag/members/operation/add_member`, { waitUntil: 'load' });
  await check('GET /docs answers 200 text/html', async () => {
    assert.equal(rsp.status(), 200);
    assert.match(rsp.headers()['content-type'], /^text\/html/);
  });

  const op = page.locator('[data-section-id="tag/members/operation/add_member"]');
  await op.waitFor({ timeout: 20000 });
  console.log(`rendered in ${Date.now() - started} ms`);
  const text = () => op.innerText();

  await check('the add-member operation: summary, description, method and path', async () => {
    const t = await text();
    assert.match(t, /^Add an image member/);
    assert.match(t, /Shares a shared image with another project/);
    assert.match(t, /POST\s*\/v2\/images\/\{image_id\}\/members/);
    assert.match(t, /image_id\s*required/);
    assert.match(t, /X-Auth-Token/);
  });
  await check('its request body: application/json, required `member` with its description and limits, and the example', async () => {
    const t = await text();
    assert.match(t, /request body schema:\s*application\/json\s*required/i);
    assert.match(t, /member\s*required\s*string \[ 1 \.\. 255 \] characters/);
    assert.match(t, /The project ID to share the image with/);
    assert.match(t, /Request samples[\s\S]*"member": "edc89b490d7d4392898e19b2deb34797"/);
  });
  await check('its responses: 200, 4XX, 5XX, with the 200 example', async () => {
    const t = await text();
    assert.match(t, /Responses\s*200\s*successful operation\s*4XX\s*ApiError\s*5XX\s*ApiError/);
    assert.match(t, /Response samples[\s\S]*"status": "pending"/);
  });
  await check('the 200 response expands to the Member schema', async () => {
    await op.getByRole('button', { name: /^200 successful operation/ }).click();
    const t = await text();
    for (const field of ['status', 'created_at', 'updated_at', 'image_id', 'member_id', 'schema']) {
      assert.match(t, new RegExp(`\\b${field}\\s*required`), `field ${field}`);
    }
    assert.match(t, /Enum: "pending" "accepted" "rejected"/);
  });
  await check('the 4XX response expands to the error envelope', async () => {
    await op.getByRole('button', { name: /^4XX ApiError/ }).click();
    const t = await text();
    assert.match(t, /error\s*required\s*object \(ErrorBody\)/);
  });
  await check('the other operations and tags are listed in the menu', async () => {
    const menu = await page.locator('[role="menu"]').first().innerText();
    for (const s of ['images', 'members', 'schemas', 'versions', 'huawei', 'Add an image member', 'Update an image member\'s status']) {
      assert.ok(menu.includes(s), `menu lacks ${s}`);
    }
  });

  // Let late loads (workers, images, fonts) happen before judging them.
  await page.waitForLoadState('networkidle');
  await check(`every request stayed on ${origin}`, async () => {
    const outside = requests.filter((u) => {
      if (u.startsWith('data:')) return false;
      const o = u.startsWith('blob:') ? new URL(u.slice(5)).origin : new URL(u).origin;
      return o !== origin;
    });
    assert.deepEqual(outside, [], `requests outside the server: ${outside.join(', ')}`);
    for (const path of ['/docs', '/docs/redoc.standalone.js', '/openapi.json']) {
      assert.ok(requests.includes(origin + path), `${path} was not loaded`);
    }
  });
  await check('no console errors, page errors or failed loads', async () => {
    assert.deepEqual(problems, []);
  });
  console.log(`requests: ${requests.map((u) => u.replace(origin, '')).join(' ')}`);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
if (failed) {
  console.log('FAIL: the reference page');
  process.exit(1);
}
console.log('ok: the reference page renders the document with no outside requests and no console errors');
