// The codec's side of the page: a module Web Worker that owns the wasm module, the opened
// stream and its decoder states, so decoding never blocks the page.
//
// Requests are {id, op, ...args}; every reply is {id, result} or {id, error}. Pixel buffers
// travel as transferred ArrayBuffers.

import init, {
  Ivf,
  State,
  decode,
  encode,
  rebase,
  frameFacts,
  md5Hex,
  version,
} from './pkg/codec_wasm.js';

const ready = init();

// A state is kept before every CHECKPOINT-th frame, so a seek decodes at most that many frames.
const CHECKPOINT = 8;

let stream = null;
let preview = null;

const ops = {
  version() {
    return version();
  },

  // Opens an IVF file: its container facts and every frame's header facts.
  open({ bytes, name }) {
    stream = null;
    preview = null;
    const ivf = new Ivf(new Uint8Array(bytes));
    const facts = [];
    for (let i = 0; i < ivf.length; i++) {
      try {
        facts.push(JSON.parse(frameFacts(ivf.frame(i))));
      } catch (e) {
        facts.push({ error: String(e.message || e) });
      }
    }
    stream = {
      ivf,
      name,
      facts,
      checkpoints: new Map([[0, new State()]]),
      cursor: { next: 0, state: new State() },
    };
    return {
      name,
      width: ivf.width,
      height: ivf.height,
      frameRate: ivf.frameRate,
      length: ivf.length,
      truncated: ivf.error ?? null,
      facts,
    };
  },

  // Decodes frame `index` and returns its picture as RGBA (none for a hidden frame).
  show({ index }) {
    const s = opened();
    checkIndex(index);
    const before = stateBefore(index);
    const started = performance.now();
    const { picture } = step(index, before);
    const ms = performance.now() - started;
    if (!picture) {
      return { index, shown: false, ms, facts: s.facts[index] };
    }
    const buffers = [];
    const result = {
      index,
      shown: true,
      ms,
      facts: s.facts[index],
      md5: picture.md5(),
      ...image(picture, buffers),
    };
    picture.free();
    return transfer(result, buffers);
  },

  // The state after frame `index`: its report and its three reference pictures.
  inspect({ index }) {
    opened();
    checkIndex(index);
    const state = stateBefore(index + 1);
    const report = JSON.parse(state.report());
    const references = {};
    const buffers = [];
    for (const which of ['last', 'golden', 'altref']) {
      const picture = state.reference(which);
      if (picture) {
        references[which] = image(picture, buffers);
        picture.free();
      }
    }
    return transfer({ index, report, references }, buffers);
  },

  // The state after frame `index`, serialized as `flick dump-state` writes it.
  stateBytes({ index }) {
    opened();
    checkIndex(index);
    const bytes = stateBefore(index + 1).toBytes();
    return transfer({ index, bytes: bytes.buffer }, [bytes.buffer]);
  },

  // Decodes the whole stream from the start and returns one MD5 line per shown frame, as
  // `flick decode --frame-md5` prints them. A frame that fails ends the list with an error;
  // the lines before it are kept.
  md5Lines() {
    const s = opened();
    let state = new State();
    const lines = [];
    let decodeMs = 0;
    let decoded = 0;
    let error = null;
    for (let i = 0; i < s.ivf.length; i++) {
      const frame = s.ivf.frame(i);
      const started = performance.now();
      let result;
      try {
        result = decode(state, frame);
      } catch (e) {
        error = `frame ${i}: ${e.message || e}`;
        break;
      }
      decodeMs += performance.now() - started;
      decoded += 1;
      state.free();
      state = result.state();
      const picture = result.picture();
      result.free();
      if (picture) {
        lines.push(picture.md5Line(s.name, i));
        picture.free();
      }
    }
    return { lines, decoded, decodeMs, error: error ?? s.ivf.error ?? null };
  },

  // Rebase preview: the `length` shown pictures from frame `at` on are encoded as a chunk of
  // their own (starting with a keyframe, as a worker would), then that chunk is rebased onto
  // the state after frame at-1, the end of the earlier chunk. Both are compared with the
  // pictures they were made from, and each rebased frame is decoded from its target to check
  // that it shows exactly what rebase said.
  rebasePreview({ at, length, quantizer, speed }) {
    const s = opened();
    if (!(at >= 1 && at < s.ivf.length)) {
      throw new Error(`the later chunk must start at a frame from 1 to ${s.ivf.length - 1}`);
    }
    if (!(length >= 1)) throw new Error('the chunk needs at least one frame');
    const target = stateBefore(at);
    if (target.width === 0) throw new Error(`no keyframe before frame ${at}`);

    const sources = [];
    let state = target;
    for (let i = at; i < s.ivf.length && sources.length < length; i++) {
      const { state: next, picture } = step(i, state);
      state = next;
      if (picture) sources.push({ index: i, picture });
    }

    const options = (keyframe) => JSON.stringify({ quantizer, speed, keyframe });
    const frames = [];
    let made = new State();
    let encodeMs = 0;
    let rebaseMs = 0;
    let onto = target;
    for (const [k, source] of sources.entries()) {
      const madeFrom = made.context();
      let started = performance.now();
      const encoded = encode(made, source.picture, options(k === 0));
      encodeMs += performance.now() - started;
      const data = encoded.data();
      made = encoded.state();

      started = performance.now();
      const rebased = rebase(onto, source.picture, data, madeFrom);
      rebaseMs += performance.now() - started;
      const rebasedData = rebased.data();
      const rebasedPicture = rebased.picture();
      const check = decode(onto, rebasedData).picture();
      onto = rebased.state();

      const standalonePicture = encoded.picture();
      frames.push({
        frame: source.index,
        keyframe: JSON.parse(encoded.facts()).keyFrame,
        standaloneBytes: data.length,
        standalonePsnr: standalonePicture.psnr(source.picture),
        rebasedBytes: rebasedData.length,
        rebasedPsnr: rebasedPicture.psnr(source.picture),
        encodeMd5: md5Hex(data),
        rebaseMd5: md5Hex(rebasedData),
        verified: check !== undefined && check.md5() === rebasedPicture.md5(),
        pictures: { standalone: standalonePicture, rebased: rebasedPicture },
      });
      check?.free();
      encoded.free();
      rebased.free();
    }
    preview = frames;
    return {
      at,
      quantizer,
      speed,
      encodeMs,
      rebaseMs,
      frames: frames.map(({ pictures, ...facts }) => facts),
    };
  },

  // One frame of the last rebase preview: its standalone and rebased pictures as RGBA.
  previewFrame({ k }) {
    if (!preview || !preview[k]) throw new Error(`no previewed frame ${k}`);
    const buffers = [];
    const { standalone, rebased } = preview[k].pictures;
    const out = { standalone: image(standalone, buffers), rebased: image(rebased, buffers) };
    return transfer(out, buffers);
  },
};

// `picture` as {width, height, rgba} for the page; the RGBA buffer joins `buffers`, to be
// transferred rather than copied.
function image(picture, buffers) {
  const rgba = picture.rgba();
  buffers.push(rgba.buffer);
  return { width: picture.width, height: picture.height, rgba: rgba.buffer };
}

function opened() {
  if (!stream) throw new Error('no stream is open');
  return stream;
}

function checkIndex(index) {
  if (!(Number.isInteger(index) && index >= 0 && index < stream.ivf.length)) {
    throw new Error(`frame ${index} is not in the stream (0 to ${stream.ivf.length - 1})`);
  }
}

// The state before frame `index`: from the cursor when it is on the way, else from the
// nearest checkpoint at or before it.
function stateBefore(index) {
  const s = stream;
  let from = Math.floor(index / CHECKPOINT) * CHECKPOINT;
  while (!s.checkpoints.has(from)) from -= CHECKPOINT;
  let state = s.checkpoints.get(from);
  if (s.cursor.next <= index && s.cursor.next >= from) {
    from = s.cursor.next;
    state = s.cursor.state;
  }
  for (let i = from; i < index; i++) {
    const { state: next, picture } = step(i, state);
    picture?.free();
    state = next;
  }
  return state;
}

// Decodes frame `index` from `state`, moves the cursor past it and keeps a checkpoint.
function step(index, state) {
  let result;
  try {
    result = decode(state, stream.ivf.frame(index));
  } catch (e) {
    throw new Error(`frame ${index}: ${e.message || e}`);
  }
  const next = result.state();
  const picture = result.picture();
  result.free();
  if ((index + 1) % CHECKPOINT === 0 && !stream.checkpoints.has(index + 1)) {
    stream.checkpoints.set(index + 1, next);
  }
  stream.cursor = { next: index + 1, state: next };
  return { state: next, picture };
}

const TRANSFER = Symbol('transfer');
function transfer(result, buffers) {
  result[TRANSFER] = buffers;
  return result;
}

self.onmessage = async ({ data: { id, op, ...args } }) => {
  try {
    await ready;
    if (!Object.hasOwn(ops, op)) throw new Error(`unknown request ${op}`);
    const result = ops[op](args);
    const buffers = result?.[TRANSFER] ?? [];
    if (result && typeof result === 'object') delete result[TRANSFER];
    self.postMessage({ id, result }, buffers);
  } catch (e) {
    self.postMessage({ id, error: String(e?.message ?? e) });
  }
};
