// Drives web-demo/dist in headless Chromium (Debian's, through playwright-core) and writes
// what the pages reported to OUT/results.json; comparing it with the native codec is the
// job of the Rust test that runs this (tests/browser.rs).
//
//   node web-demo/test/browser-test.mjs --dist web-demo/dist --out DIR
//        [--selftest FILE.ivf]...        decode in the browser: MD5 lines, decode time
//        [--rebase FILE.ivf --at K --length L --q Q --speed S]
//                                        run the rebase preview: per-frame MD5s
//        [--screenshot FILE.ivf]         open it with the file picker, play it, screenshot
//                                        the canvas and save the state after the last frame
//                                        (player.state)
//
// Files are served from a loopback HTTP server this script starts. Chromium comes from
// $CHROMIUM or /usr/bin/chromium. Any page error or console error fails the run.

import { createServer } from 'node:http';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT_MS = 120_000;

function parseArgs(argv) {
  const args = { selftest: [], rebase: null, screenshot: null, dist: null, out: null };
  const rebase = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--dist': args.dist = value(); break;
      case '--out': args.out = value(); break;
      case '--selftest': args.selftest.push(value()); break;
      case '--screenshot': args.screenshot = value(); break;
      case '--rebase': rebase.file = value(); break;
      case '--at': rebase.at = value(); break;
      case '--length': rebase.length = value(); break;
      case '--q': rebase.q = value(); break;
      case '--speed': rebase.speed = value(); break;
      default: throw new Error(`unknown argument ${flag}`);
    }
  }
  if (!args.dist || !args.out) throw new Error('--dist and --out are required');
  if (rebase.file) args.rebase = rebase;
  return args;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ivf': 'video/x-ivf',
};

// Serves dist/ at / and each input file at /input/<n>/<file name>.
function serve(dist, inputs) {
  const server = createServer(async (request, response) => {
    const url = new URL(request.url, 'http://localhost');
    let file;
    const input = url.pathname.match(/^\/input\/(\d+)\//);
    if (input) {
      file = inputs[Number(input[1])];
    } else {
      const relative = path.normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '');
      file = path.join(dist, relative || 'index.html');
      if (!file.startsWith(path.resolve(dist))) file = undefined;
    }
    try {
      if (!file) throw new Error('not found');
      const body = await readFile(file);
      response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404);
      response.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function waitForTitle(page, prefix) {
  await page.waitForFunction((p) => document.title.startsWith(p), prefix, { timeout: TIMEOUT_MS });
  return page.title();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const dist = path.resolve(args.dist);
  await mkdir(args.out, { recursive: true });
  const inputs = [...args.selftest, args.rebase?.file, args.screenshot]
    .filter(Boolean)
    .map((f) => path.resolve(f));
  const inputUrl = (file) => {
    const n = inputs.indexOf(path.resolve(file));
    return `/input/${n}/${encodeURIComponent(path.basename(file))}`;
  };
  const server = await serve(dist, inputs);
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const results = { userAgent: null, selftest: {}, rebase: null, screenshot: null, errors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    results.userAgent = await page.evaluate(() => navigator.userAgent);
    page.on('pageerror', (e) => results.errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') results.errors.push(`console error: ${m.text()}`);
    });

    for (const file of args.selftest) {
      const started = Date.now();
      await page.goto(`${base}/index.html?selftest=${encodeURIComponent(inputUrl(file))}`);
      const title = await waitForTitle(page, 'selftest:');
      const report = await page.$eval('#selftest', (el) => ({
        text: el.textContent,
        frames: Number(el.dataset.frames),
        decodeMs: Number(el.dataset.decodeMs),
      }));
      results.selftest[path.basename(file)] = {
        title,
        lines: report.text ? report.text.split('\n') : [],
        frames: report.frames,
        decodeMs: report.decodeMs,
        pageMs: Date.now() - started,
      };
      console.log(`${path.basename(file)}: ${title}, ${report.frames} frames in ${report.decodeMs} ms`);
    }

    if (args.rebase) {
      const r = args.rebase;
      const query = new URLSearchParams({ rebasetest: inputUrl(r.file), at: r.at ?? 1, length: r.length ?? 6, q: r.q ?? 32, speed: r.speed ?? 8 });
      await page.goto(`${base}/index.html?${query}`);
      const title = await waitForTitle(page, 'rebasetest:');
      const text = await page.$eval('#selftest', (el) => el.textContent);
      const summary = await page.$eval('#rebase-summary', (el) => el.textContent);
      results.rebase = { title, lines: text ? text.split('\n') : [], summary };
      await page.locator('#rebase-section').screenshot({ path: path.join(args.out, 'rebase.png') });
      console.log(`rebase preview: ${title}: ${summary}`);
    }

    if (args.screenshot) {
      // Opened through the file picker, as a user would.
      await page.goto(`${base}/index.html`);
      await page.setInputFiles('#file', args.screenshot);
      await page.waitForFunction(() => document.getElementById('position').textContent.startsWith('frame'), null, { timeout: TIMEOUT_MS });
      // Play to the end, so the canvas shows a decoded frame well into the stream.
      await page.click('#play');
      await page.waitForFunction(() => document.getElementById('play').textContent === 'Play' &&
        document.getElementById('speed').textContent.includes('played'), null, { timeout: TIMEOUT_MS });
      // The state after the last frame, as the inspector's Save button downloads it.
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save-state')]);
      await download.saveAs(path.join(args.out, 'player.state'));
      const player = path.join(args.out, 'player.png');
      await page.locator('#player').screenshot({ path: player });
      await page.screenshot({ path: path.join(args.out, 'page.png'), fullPage: true });
      results.screenshot = {
        player,
        position: await page.$eval('#position', (el) => el.textContent),
        speed: await page.$eval('#speed', (el) => el.textContent),
        status: await page.$eval('#status', (el) => el.textContent),
      };
      console.log(`player: ${results.screenshot.position}, ${results.screenshot.speed}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
  await writeFile(path.join(args.out, 'results.json'), JSON.stringify(results, null, 2));
  if (results.errors.length > 0) {
    console.error(results.errors.join('\n'));
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(`browser-test: ${e.stack || e}`);
  process.exitCode = 1;
});
