// A channel of 10,000 packages. Its package page, loaded fresh in a real
// browser: it makes exactly two requests (the document, then one GraphQL
// POST: no waterfall), and shows the package's files and versions. How
// fast it paints is printed, not asserted (timing belongs to benchmarks).
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Browser, BrowserContext } from 'playwright-core';
import type { PackageFile } from '../../src/types.js';
import { canonicalJson } from '../../src/conda/canonical-json.js';
import { buildRecord } from '../../src/conda/repodata-record.js';
import { assertTwoRoundTrips, buildUi, launchBrowser, loadPage, newContext, screenshot } from '../helpers/browser.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PACKAGES = 10_000;
// pkg-00000…pkg-09997, target and many-builds
const FILLER = PACKAGES - 2;
const SUBDIRS = ['linux-64', 'osx-arm64', 'win-64'];

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let channelId: number;

/** A record as an upload would store it (no file on disk: only the catalogue is read here). */
function record(channelId: number, subdir: string, name: string, version: string, build: string): PackageFile {
  const filename = `${name}-${version}-${build}.conda`;
  const index = { name, version, build, build_number: 0, depends: ['python >=3.9'], license: 'MIT', subdir };
  const sha256 = createHash('sha256').update(`${subdir}/${filename}`).digest('hex');
  const md5 = createHash('md5').update(`${subdir}/${filename}`).digest('hex');
  const sizeBytes = 10_000 + (filename.length * 997) % 50_000;
  return {
    channelId, subdir, filename, format: 'conda', name, version, build, buildNumber: 0, sizeBytes, sha256, md5,
    indexJson: JSON.stringify(index),
    aboutJson: JSON.stringify({ summary: `The ${name} package`, license: 'MIT', home: `https://example.org/${name}` }),
    runExportsJson: null, recordJson: canonicalJson(buildRecord(index, { md5, sha256, size: sizeBytes })), uploadedBy: null,
  };
}

before(async () => {
  buildUi();
  // The rows are only read through GraphQL here; indexing 10k names into
  // repodata/shards is another subject (and takes minutes), so the indexer's
  // poll is pushed out of the test's lifetime.
  server = await startServer({ env: { CHANNELD_INDEX_POLL_MS: String(3_600_000) } });
  const channel = await server.core.channels.create('big', server.admin.id, { isPublic: true });
  const rows: PackageFile[] = [];
  for (let i = 0; i < FILLER; i++) rows.push(record(channel.id, SUBDIRS[i % 3]!, `pkg-${String(i).padStart(5, '0')}`, '1.0', 'h0_0'));
  // The package looked at: 30 versions on three platforms.
  for (let v = 0; v < 30; v++) for (const s of SUBDIRS) rows.push(record(channel.id, s, 'target', `2.${v}`, `h${s.replace(/\W/g, '')}_0`));
  // And one with more files than a page shows at first.
  for (let b = 0; b < 250; b++) rows.push(record(channel.id, 'linux-64', 'many-builds', '1.0', `h${b}_0`));
  for (let i = 0; i < rows.length; i += 5000) await server.core.repos.packages.insertFound(rows.slice(i, i + 5000));
  channelId = channel.id;
  browser = await launchBrowser();
  context = await newContext(browser, server);
});

after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
});

it('paints the package page of a 10,000-package channel from two requests', async () => {
  const count = await server.core.repos.catalog.packagesPages([channelId], { all: true }, null, null, { limit: 1, page: 0 }, true);
  assert.equal(count.get(channelId)?.totalCount, PACKAGES);

  const samples: Array<{ fcp: number; content: number }> = [];
  for (let i = 0; i < 5; i++) {
    const page = await context.newPage();
    assertTwoRoundTrips(await loadPage(page, '/channels/big/packages/target'), 'package page');
    await page.getByRole('heading', { level: 1, name: 'target' }).waitFor();
    assert.equal(await page.locator('table.files tbody tr').count(), 90);
    assert.equal(await page.locator('table.matrix tbody tr').count(), 30);
    samples.push(await page.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
      content: performance.getEntriesByName('channeld:content')[0]?.startTime ?? NaN,
    })));
    if (i === 0) await screenshot(page, 'package-10k-channel');
    await page.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const fcp = samples.map((s) => s.fcp);
  const content = samples.map((s) => s.content);
  console.log(`package page, 10k-package channel, 2 requests: first contentful paint median ${median(fcp).toFixed(0)} ms ` +
    `(${fcp.map((x) => x.toFixed(0)).join(', ')}); content drawn median ${median(content).toFixed(0)} ms (${content.map((x) => x.toFixed(0)).join(', ')})`);
});

it('pages through the 10,000 packages of the channel page', async () => {
  const page = await context.newPage();
  assertTwoRoundTrips(await loadPage(page, '/channels/big?page=2'), 'channel page 2');
  await page.getByText('Page 2 of 200').waitFor();
  const names = await page.locator('table.packages td[data-label=Package] a').allInnerTexts();
  assert.equal(names.length, 50);
  assert.equal(names[0], 'pkg-00049'); // page 1: many-builds, pkg-00000…pkg-00048
  await page.getByRole('link', { name: 'Next →' }).click();
  await page.waitForURL((u) => u.search === '?page=3');
  await page.getByText('Page 3 of 200').waitFor();
  assert.equal(await page.locator('table.packages td[data-label=Package] a').first().innerText(), 'pkg-00099');
  await page.close();
});

it('shows every file of a package, more on request', async () => {
  const page = await context.newPage();
  await loadPage(page, '/channels/big/packages/many-builds');
  const rows = page.locator('table.files tbody tr');
  assert.equal(await rows.count(), 200);
  await page.getByText('Newest first: 200 of 250 files shown.').waitFor();
  await page.getByRole('button', { name: 'Show more files' }).click();
  await page.getByText('250 files, newest first.').waitFor();
  assert.equal(await rows.count(), 250);
  const names = await page.locator('table.files td[data-label=File]').allInnerTexts();
  assert.equal(new Set(names).size, 250);
  assert.equal(await page.getByRole('button', { name: 'Show more files' }).isHidden(), true);
  await page.close();
});
