// The page: player, frame list, state inspector and rebase preview. All decoding happens in
// worker.js; this file only draws.
//
// Query parameters:
//   ?src=URL                       open the IVF at URL
//   ?selftest=URL                  decode it, write one MD5 line per shown frame into
//                                  #selftest, then set the title to selftest:done
//                                  (or selftest:error:MESSAGE)
//   ?rebasetest=URL&at=K&length=L&q=Q&speed=S
//                                  run the rebase preview, write its per-frame MD5s into
//                                  #selftest, then set the title to rebasetest:done

const $ = (id) => document.getElementById(id);

// ---- talking to the worker

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const pending = new Map();
let nextId = 1;
worker.onmessage = ({ data: { id, result, error } }) => {
  const request = pending.get(id);
  pending.delete(id);
  if (error !== undefined) request.reject(new Error(error));
  else request.resolve(result);
};
worker.onerror = (event) => {
  for (const request of pending.values()) request.reject(new Error(event.message || 'worker failed'));
  pending.clear();
};
function call(op, args = {}, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, ...args }, transfer);
  });
}

// ---- opening a stream

let stream = null; // what `open` answered
let current = -1; // the frame on the canvas
let playing = false;

async function openBytes(bytes, name) {
  stop();
  setStatus(`Opening ${name}…`);
  stream = await call('open', { bytes, name }, [bytes]);
  const { width, height, length, frameRate, truncated } = stream;
  setStatus(
    `${name}: ${width}×${height}, ${length} frames` +
      (frameRate ? `, ${frameRate.toFixed(2)} fps` : '') +
      (truncated ? ` — file cut short: ${truncated}` : ''),
    Boolean(truncated),
  );
  $('seek').max = Math.max(0, length - 1);
  $('rebase-at').max = Math.max(2, length);
  $('rebase-at').value = Math.max(2, Math.floor(length / 2) + 1);
  fillFrameList();
  current = -1;
  if (length > 0) await showFrame(0);
  return stream;
}

async function openUrl(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  return openBytes(bytes, streamName(url));
}

// The file stem: what names frames in MD5 lines.
function streamName(path) {
  const file = decodeURIComponent(new URL(path, location.href).pathname.split('/').pop());
  return file.replace(/\.ivf$/i, '');
}

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

// ---- the player

function putRgba(canvas, { width, height, rgba }) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
}

async function showFrame(index) {
  const shown = await call('show', { index });
  current = index;
  if (shown.shown) putRgba($('player'), shown);
  $('seek').value = index;
  $('position').textContent = `frame ${index + 1} / ${stream.length}`;
  showFacts(shown);
  highlightRow(index);
  if (!playing) await inspect(index);
  return shown;
}

function showFacts({ facts, shown, md5, ms }) {
  const rows = facts === null
    ? [['type', 'dropped (empty frame)']]
    : facts.error
      ? [['error', facts.error]]
      : [
          ['type', frameType(facts)],
          ['bytes', `${facts.bytes} (first partition ${facts.firstPartitionBytes})`],
          ['quantizer', facts.quantizer],
          ['loop filter', `${facts.filterSimple ? 'simple' : 'normal'} ${facts.loopFilterLevel}, sharpness ${facts.sharpness}`],
          ['refresh', refreshText(facts)],
          ['partitions', facts.partitions],
          ['segmentation', facts.segmentation ? 'on' : 'off'],
          ['version', facts.version],
          ['shown', shown ? `yes, MD5 ${md5}` : 'no (reference only)'],
          ['decode', `${ms.toFixed(2)} ms`],
        ];
  fillTable($('facts'), rows);
}

function frameType(facts) {
  if (!facts) return 'dropped';
  if (facts.error) return 'error';
  return facts.keyFrame ? `keyframe ${facts.width}×${facts.height}` : 'interframe';
}

function refreshText(facts) {
  const parts = [];
  if (facts.refreshLast) parts.push('last');
  if (facts.refreshGolden) parts.push('golden');
  else if (facts.copyToGolden) parts.push(`golden←${facts.copyToGolden}`);
  if (facts.refreshAltref) parts.push('altref');
  else if (facts.copyToAltref) parts.push(`altref←${facts.copyToAltref}`);
  if (facts.refreshEntropy) parts.push('probabilities');
  return parts.join(', ') || 'nothing';
}

function fillTable(table, rows) {
  table.replaceChildren(
    ...rows.map(([key, value]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.textContent = key;
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(th, td);
      return tr;
    }),
  );
}

function fillFrameList() {
  const body = $('frames').tBodies[0];
  body.replaceChildren(
    ...stream.facts.map((facts, i) => {
      const tr = document.createElement('tr');
      tr.dataset.index = i;
      const cells = facts && !facts.error
        ? [
            i + 1,
            facts.keyFrame ? 'key' : 'inter',
            facts.bytes,
            facts.quantizer,
            facts.loopFilterLevel,
            [facts.refreshLast && 'L', facts.refreshGolden && 'G', facts.refreshAltref && 'A']
              .filter(Boolean)
              .join(''),
            facts.show ? '' : 'hidden',
          ]
        : [i + 1, frameType(facts), '', '', '', '', ''];
      for (const value of cells) {
        const td = document.createElement('td');
        td.textContent = value;
        tr.append(td);
      }
      if (facts?.keyFrame) tr.classList.add('key');
      tr.addEventListener('click', () => seek(i));
      return tr;
    }),
  );
}

function highlightRow(index) {
  for (const row of $('frames').querySelectorAll('tr.current')) row.classList.remove('current');
  const row = $('frames').tBodies[0].rows[index];
  if (row) {
    row.classList.add('current');
    if (!playing) row.scrollIntoView({ block: 'nearest' });
  }
}

async function seek(index) {
  if (!stream) return;
  stop();
  try {
    await showFrame(Math.max(0, Math.min(stream.length - 1, index)));
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function play() {
  if (!stream || playing) return;
  playing = true;
  $('play').textContent = 'Pause';
  const interval = 1000 / (stream.frameRate > 0 ? stream.frameRate : 30);
  const start = current + 1 >= stream.length ? 0 : current + 1;
  const began = performance.now();
  let decodeMs = 0;
  let frames = 0;
  try {
    for (let i = start; playing && i < stream.length; i++) {
      const shownAt = performance.now();
      const shown = await showFrame(i);
      decodeMs += shown.ms;
      frames += 1;
      $('speed').textContent = `decoding ${(1000 * frames / decodeMs).toFixed(0)} frames/s`;
      const wait = interval - (performance.now() - shownAt);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } catch (e) {
    setStatus(e.message, true);
  }
  const wasPlaying = playing;
  stop();
  if (wasPlaying && frames > 0) {
    const seconds = (performance.now() - began) / 1000;
    $('speed').textContent =
      `decoding ${(1000 * frames / decodeMs).toFixed(0)} frames/s, played ${(frames / seconds).toFixed(1)} frames/s`;
  }
  if (current >= 0) {
    highlightRow(current);
    await inspect(current);
  }
}

function stop() {
  playing = false;
  $('play').textContent = 'Play';
}

// ---- the state inspector

let inspected = -1; // the frame whose following state is shown

async function inspect(index) {
  const { report, references } = await call('inspect', { index });
  inspected = index;
  $('inspect-index').textContent = index + 1;
  $('save-state').disabled = false;
  const p = report.probabilities;
  const blockTypes = ['Y after Y2', 'Y2', 'chroma', 'Y with DC'];
  const diff = (d) => (d.changed === 0 ? 'defaults' : `${d.values.join(' ')} (defaults ${d.defaults.join(' ')})`);
  const rows = [
    ['size', report.size ? `${report.size.width}×${report.size.height}` +
      (report.size.horizontalScale || report.size.verticalScale
        ? `, scale codes ${report.size.horizontalScale}/${report.size.verticalScale}` : '') : 'none (no keyframe yet)'],
    ['content hash', report.hash.slice(0, 16) + '…'],
    ['coefficient probabilities', `${p.coefficientsChanged.reduce((a, b) => a + b, 0)} of ${p.coefficientsTotal} differ from the defaults ` +
      `(mean |Δ| ${p.coefficientsMeanAbsDiff.toFixed(2)}): ` +
      p.coefficientsChanged.map((n, i) => `${blockTypes[i]} ${n}`).join(', ')],
    ['Y mode probabilities', diff(p.yMode)],
    ['UV mode probabilities', diff(p.uvMode)],
    ['MV probabilities', `${p.motionVectors[0].changed} vertical, ${p.motionVectors[1].changed} horizontal of ${p.motionVectors[0].values.length} each differ`],
    ['segments', `${report.segmentation.macroblocks.join(' / ')} macroblocks; quantizer ${report.segmentation.quantizer.join(' ')}, filter ${report.segmentation.loopFilterLevel.join(' ')} (${report.segmentation.absoluteValues ? 'absolute' : 'deltas'})`],
    ['loop-filter deltas', `reference ${report.loopFilterDeltas.referenceFrame.join(' ')}; mode ${report.loopFilterDeltas.mode.join(' ')}`],
  ];
  if (report.references) {
    const r = report.references;
    const shared = [r.goldenIsLast && 'golden = last', r.altrefIsLast && 'altref = last', r.altrefIsGolden && 'altref = golden'].filter(Boolean);
    rows.push(['shared references', shared.join(', ') || 'all three differ']);
  }
  const table = document.createElement('table');
  table.className = 'facts';
  fillTable(table, rows);
  $('inspector').replaceChildren(table);
  for (const which of ['last', 'golden', 'altref']) {
    const canvas = $(`ref-${which}`);
    const picture = references[which];
    if (picture) drawThumbnail(canvas, picture);
    else canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  }
}

// Saves the state after the inspected frame: `flick decode STREAM --state FILE --from N`
// goes on from it.
async function saveState() {
  const index = inspected;
  const { bytes } = await call('stateBytes', { index });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  link.download = `${stream.name}-after-${index + 1}.state`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

function drawThumbnail(canvas, picture) {
  const full = document.createElement('canvas');
  putRgba(full, picture);
  const scale = Math.min(160 / picture.width, 120 / picture.height, 1);
  canvas.width = Math.max(1, Math.round(picture.width * scale));
  canvas.height = Math.max(1, Math.round(picture.height * scale));
  canvas.getContext('2d').drawImage(full, 0, 0, canvas.width, canvas.height);
}

// ---- the rebase preview

let previewed = null;

async function runRebasePreview(at, length, quantizer, speed) {
  $('rebase-at').value = at + 1;
  $('rebase-length').value = length;
  $('rebase-q').value = quantizer;
  $('rebase-speed').value = speed;
  $('rebase-run').disabled = true;
  $('rebase-summary').textContent = `Encoding frames from ${at + 1} on as a chunk of their own, then rebasing…`;
  try {
    previewed = await call('rebasePreview', { at, length, quantizer, speed });
  } finally {
    $('rebase-run').disabled = false;
  }
  const frames = previewed.frames;
  const sum = (key) => frames.reduce((a, f) => a + f[key], 0);
  const mean = (key) => sum(key) / frames.length;
  $('rebase-summary').textContent =
    `${frames.length} frames at quantizer ${quantizer}, speed ${speed}. ` +
    `On its own: ${sum('standaloneBytes')} bytes, ${mean('standalonePsnr').toFixed(2)} dB. ` +
    `Rebased: ${sum('rebasedBytes')} bytes, ${mean('rebasedPsnr').toFixed(2)} dB. ` +
    `Encode ${previewed.encodeMs.toFixed(0)} ms, rebase ${previewed.rebaseMs.toFixed(0)} ms. ` +
    (frames.every((f) => f.verified)
      ? 'Every rebased frame decodes to what rebase reconstructed.'
      : 'MISMATCH: a rebased frame decodes differently from its reconstruction.');
  const table = $('rebase-table');
  const head = ['frame', 'on its own', 'rebased', 'decodes as said'];
  table.replaceChildren(
    row('th', head),
    ...frames.map((f, k) => {
      const tr = row('td', [
        f.frame + 1,
        `${f.keyframe ? 'key, ' : ''}${f.standaloneBytes} B, ${f.standalonePsnr.toFixed(2)} dB`,
        `${f.rebasedBytes} B, ${f.rebasedPsnr.toFixed(2)} dB`,
        f.verified ? 'yes' : 'NO',
      ]);
      tr.addEventListener('click', () => showPreviewFrame(k));
      return tr;
    }),
  );
  $('rebase-frame').max = frames.length - 1;
  $('rebase-frame').hidden = false;
  $('rebase-pictures').hidden = false;
  await showPreviewFrame(0);
  return previewed;
}

function row(cell, values) {
  const tr = document.createElement('tr');
  for (const value of values) {
    const el = document.createElement(cell);
    el.textContent = value;
    tr.append(el);
  }
  return tr;
}

async function showPreviewFrame(k) {
  const pictures = await call('previewFrame', { k });
  const f = previewed.frames[k];
  putRgba($('rebase-standalone'), pictures.standalone);
  putRgba($('rebase-rebased'), pictures.rebased);
  $('cap-standalone').textContent = `frame ${f.frame + 1} on its own: ${f.standalonePsnr.toFixed(2)} dB, ${f.standaloneBytes} bytes`;
  $('cap-rebased').textContent = `rebased onto frame ${previewed.at}: ${f.rebasedPsnr.toFixed(2)} dB, ${f.rebasedBytes} bytes`;
  $('rebase-frame').value = k;
}

// ---- self-tests for the browser tests

async function selftest(url) {
  const out = $('selftest');
  out.hidden = false;
  try {
    await openUrl(url);
    const { lines, decoded, decodeMs, error } = await call('md5Lines');
    out.textContent = lines.join('\n');
    out.dataset.frames = decoded;
    out.dataset.decodeMs = decodeMs.toFixed(3);
    document.title = error ? `selftest:error:${error}` : 'selftest:done';
  } catch (e) {
    document.title = `selftest:error:${e.message}`;
  }
}

async function rebasetest(url, params) {
  const out = $('selftest');
  out.hidden = false;
  try {
    await openUrl(url);
    const number = (name, fallback) => (params.has(name) ? Number(params.get(name)) : fallback);
    const result = await runRebasePreview(
      number('at', 1), number('length', 6), number('q', 32), number('speed', 8));
    out.textContent = result.frames
      .flatMap((f) => [
        `encode ${f.frame} ${f.encodeMd5}`,
        `rebase ${f.frame} ${f.rebaseMd5}`,
        `verified ${f.frame} ${f.verified}`,
        `psnr ${f.frame} ${f.standalonePsnr.toFixed(3)} ${f.rebasedPsnr.toFixed(3)}`,
      ])
      .join('\n');
    const { report } = await call('inspect', { index: result.at - 1 });
    out.textContent += `\ntarget ${result.at - 1} ${report.hash}`;
    document.title = 'rebasetest:done';
  } catch (e) {
    document.title = `rebasetest:error:${e.message}`;
  }
}

// ---- wiring

$('file').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    await openBytes(await file.arrayBuffer(), file.name.replace(/\.ivf$/i, ''));
  } catch (e) {
    setStatus(`${file.name}: ${e.message}`, true);
  }
});
$('open-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const url = $('url').value.trim();
  if (!url) return;
  try {
    await openUrl(url);
  } catch (e) {
    setStatus(e.message, true);
  }
});
$('save-state').addEventListener('click', () => saveState().catch((e) => setStatus(e.message, true)));
$('first').addEventListener('click', () => seek(0));
$('prev').addEventListener('click', () => seek(current - 1));
$('next').addEventListener('click', () => seek(current + 1));
$('play').addEventListener('click', () => (playing ? stop() : play()));
$('seek').addEventListener('input', (event) => seek(Number(event.target.value)));
$('rebase-frame').addEventListener('input', (event) => showPreviewFrame(Number(event.target.value)));
$('rebase-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!stream) return setStatus('Open a stream first.', true);
  try {
    await runRebasePreview(
      Number($('rebase-at').value) - 1, // `start` counts frames from 1
      Number($('rebase-length').value),
      Number($('rebase-q').value),
      Number($('rebase-speed').value),
    );
  } catch (e) {
    $('rebase-summary').textContent = `Rebase preview failed: ${e.message}`;
  }
});

call('version').then((v) => ($('version').textContent = v));

const params = new URLSearchParams(location.search);
if (params.has('selftest')) {
  selftest(params.get('selftest'));
} else if (params.has('rebasetest')) {
  rebasetest(params.get('rebasetest'), params);
} else if (params.has('src')) {
  openUrl(params.get('src')).catch((e) => setStatus(e.message, true));
}
