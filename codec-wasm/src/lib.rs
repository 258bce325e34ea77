//! flick's VP8 codec for the browser: the very same codec-core that runs in the workers,
//! bound with wasm-bindgen.
//!
//! The API mirrors codec-core's pure functions. States, pictures and frame contexts are
//! opaque handles that live in the module's memory (cloning a state is cheap: pictures are
//! shared), so a page or a Web Worker can keep the state after every frame and go back to
//! any of them:
//!
//! ```js
//! let state = new State();
//! const decoded = decode(state, frameBytes);   // throws on a corrupt frame
//! state = decoded.state();
//! const picture = decoded.picture();           // undefined for a hidden frame
//! ```
//!
//! Errors arrive in JavaScript as `Error`s whose message names the frame part at fault.

use std::sync::Arc;

use codec_core::container::ivf::{VP8_FOURCC, parse_ivf};
use wasm_bindgen::prelude::*;

pub mod inspect;
pub mod options;

/// Routes Rust panics to `console.error` with their message and location.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The crate's version, for the page's footer and test reports.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// A VP8 decoder state (RFC 6386 §9): probabilities, segmentation, loop-filter deltas and
/// the three reference pictures.
#[wasm_bindgen]
#[derive(Clone, Default)]
pub struct State {
    inner: codec_core::DecoderState,
}

#[wasm_bindgen]
impl State {
    /// The state before the first keyframe.
    #[wasm_bindgen(constructor)]
    pub fn new() -> State {
        State::default()
    }

    /// Loads a state written by `toBytes` (or `flick dump-state`).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<State, JsError> {
        codec_core::DecoderState::from_bytes(bytes)
            .map(|inner| State { inner })
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// The versioned, checksummed serialization the workers exchange.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes()
    }

    /// The coded width, or 0 before the first keyframe.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.inner.size().map_or(0, |s| u32::from(s.width))
    }

    /// The coded height, or 0 before the first keyframe.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.inner.size().map_or(0, |s| u32::from(s.height))
    }

    /// The state summarised as JSON (see `inspect::StateReport`).
    pub fn report(&self) -> String {
        serde_json::to_string(&inspect::state_report(&self.inner))
            .expect("a state report always serializes")
    }

    /// One reference picture: `"last"`, `"golden"` or `"altref"`; undefined before the first
    /// keyframe.
    pub fn reference(&self, which: &str) -> Result<Option<Picture>, JsError> {
        let Some(references) = self.inner.references() else {
            return Ok(None);
        };
        let picture = match which {
            "last" => &references.last,
            "golden" => &references.golden,
            "altref" => &references.altref,
            other => {
                return Err(JsError::new(&format!(
                    "no reference called {other:?}: use last, golden or altref"
                )));
            }
        };
        Ok(Some(Picture {
            inner: Arc::clone(picture),
        }))
    }

    /// What a frame made against this state needs to be parsed again, for `rebase`.
    pub fn context(&self) -> FrameContext {
        FrameContext {
            inner: codec_core::FrameContext::of(&self.inner),
        }
    }

    /// Whether two states are equal in every field and picture.
    pub fn equals(&self, other: &State) -> bool {
        self.inner == other.inner
    }
}

/// A decoded picture (cropped to its display size when read out).
#[wasm_bindgen]
#[derive(Clone)]
pub struct Picture {
    inner: Arc<codec_core::Picture>,
}

#[wasm_bindgen]
impl Picture {
    /// A picture from display-size I420 bytes: Y, then U, then V, chroma rounded up.
    #[wasm_bindgen(js_name = fromI420)]
    pub fn from_i420(width: usize, height: usize, bytes: &[u8]) -> Result<Picture, JsError> {
        if width == 0 || height == 0 || width > 16383 || height > 16383 {
            return Err(JsError::new(&format!(
                "picture size {width}x{height} is outside what VP8 codes (1x1 to 16383x16383)"
            )));
        }
        codec_core::Picture::from_packed_i420(width, height, bytes)
            .map(|picture| Picture {
                inner: Arc::new(picture),
            })
            .ok_or_else(|| {
                JsError::new(&format!(
                    "a {width}x{height} I420 picture is {} bytes, not {}",
                    codec_core::Picture::i420_len(width, height),
                    bytes.len()
                ))
            })
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> usize {
        self.inner.display_width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> usize {
        self.inner.display_height
    }

    /// The displayed picture as I420 bytes.
    pub fn i420(&self) -> Vec<u8> {
        self.inner.to_i420()
    }

    /// RGBA bytes for `ImageData` (BT.601 studio range).
    pub fn rgba(&self) -> Vec<u8> {
        inspect::to_rgba(&self.inner)
    }

    /// MD5 of the I420 bytes, hex: as `flick decode --frame-md5` prints it.
    pub fn md5(&self) -> String {
        inspect::picture_md5(&self.inner)
    }

    /// The line `flick decode --frame-md5` prints for this picture when frame `index`
    /// (0-based, hidden frames counted) of stream `name` shows it.
    #[wasm_bindgen(js_name = md5Line)]
    pub fn md5_line(&self, name: &str, index: usize) -> String {
        inspect::md5_line(name, index, &self.inner)
    }

    /// PSNR in dB against `other`, all planes together.
    pub fn psnr(&self, other: &Picture) -> f64 {
        inspect::psnr(&self.inner, &other.inner).0
    }

    /// PSNR in dB of luma alone against `other`.
    #[wasm_bindgen(js_name = psnrLuma)]
    pub fn psnr_luma(&self, other: &Picture) -> f64 {
        inspect::psnr(&self.inner, &other.inner).1
    }
}

/// The part of a state a frame needs to be parsed: all but the pictures.
#[wasm_bindgen]
#[derive(Clone)]
pub struct FrameContext {
    inner: codec_core::FrameContext,
}

#[wasm_bindgen]
impl FrameContext {
    /// The context after `frame`, parsed without reconstructing it.
    pub fn after(&self, frame: &[u8]) -> Result<FrameContext, JsError> {
        self.inner
            .after(frame)
            .map(|inner| FrameContext { inner })
            .map_err(|e| JsError::new(&e.to_string()))
    }
}

/// The result of `decode`.
#[wasm_bindgen]
pub struct Decoded {
    state: State,
    picture: Option<Picture>,
}

#[wasm_bindgen]
impl Decoded {
    /// The state after the frame.
    pub fn state(&self) -> State {
        self.state.clone()
    }

    /// The picture the frame shows; undefined for hidden and dropped frames.
    pub fn picture(&self) -> Option<Picture> {
        self.picture.clone()
    }
}

/// `decode(state, frame) -> (state', picture)`: one frame, as a pure function.
#[wasm_bindgen]
pub fn decode(state: &State, frame: &[u8]) -> Result<Decoded, JsError> {
    let (next, picture) =
        codec_core::decode(&state.inner, frame).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(Decoded {
        state: State { inner: next },
        picture: picture.map(|inner| Picture { inner }),
    })
}

/// The result of `encode` and `rebase`.
#[wasm_bindgen]
pub struct Encoded {
    inner: codec_core::EncodedFrame,
}

#[wasm_bindgen]
impl Encoded {
    /// The compressed frame.
    pub fn data(&self) -> Vec<u8> {
        self.inner.data.clone()
    }

    /// The state a decoder is in after the frame.
    pub fn state(&self) -> State {
        State {
            inner: self.inner.state.clone(),
        }
    }

    /// The reconstruction, exactly as any decoder shows it.
    pub fn picture(&self) -> Picture {
        Picture {
            inner: Arc::clone(&self.inner.picture),
        }
    }

    /// The compressed frame's tag and header facts as JSON (see `frameFacts`).
    pub fn facts(&self) -> Result<String, JsError> {
        frame_facts(&self.inner.data)
    }
}

/// `encode(state, picture) -> frame`: `options` is a JSON object whose fields are all
/// optional: quantizer (0..=127), keyframe, speed (0..=8), tokenPartitionsLog2,
/// loopFilterLevel, sharpness, refresh {last, golden, altref, goldenToAltref}, show.
#[wasm_bindgen]
pub fn encode(state: &State, picture: &Picture, options: &str) -> Result<Encoded, JsError> {
    let params = options::encode_params(options).map_err(|e| JsError::new(&e))?;
    codec_core::encode(&state.inner, &picture.inner, &params)
        .map(|inner| Encoded { inner })
        .map_err(|e| JsError::new(&e.to_string()))
}

/// `rebase(target, source, frame) -> frame'`: re-codes `frame`, made against a state whose
/// context is `madeFrom`, so that it decodes from `target`, keeping its decisions.
#[wasm_bindgen]
pub fn rebase(
    target: &State,
    source: &Picture,
    frame: &[u8],
    made_from: &FrameContext,
) -> Result<Encoded, JsError> {
    codec_core::rebase(&target.inner, &source.inner, frame, &made_from.inner)
        .map(|inner| Encoded { inner })
        .map_err(|e| JsError::new(&e.to_string()))
}

/// MD5 of any bytes, hex: to compare compressed frames with native results.
#[wasm_bindgen(js_name = md5Hex)]
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    inspect::hex(&Md5::digest(bytes))
}

/// A frame's tag and header, as JSON (see `inspect::FrameFacts`); `null` for a dropped
/// (zero-length) frame.
#[wasm_bindgen(js_name = frameFacts)]
pub fn frame_facts(frame: &[u8]) -> Result<String, JsError> {
    let facts = inspect::frame_facts(frame).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(serde_json::to_string(&facts).expect("frame facts always serialize"))
}

/// An IVF file split into frames. A file cut short keeps the frames before the cut and
/// says where in `error`.
#[wasm_bindgen]
pub struct Ivf {
    data: Vec<u8>,
    frames: Vec<(usize, usize)>,
    width: u16,
    height: u16,
    rate: (u32, u32),
    error: Option<String>,
}

#[wasm_bindgen]
impl Ivf {
    /// Reads the IVF file header and finds every frame.
    #[wasm_bindgen(constructor)]
    pub fn new(data: Vec<u8>) -> Result<Ivf, JsError> {
        let (header, frames, error) = split_ivf(&data).map_err(|e| JsError::new(&e))?;
        Ok(Ivf {
            width: header.width,
            height: header.height,
            rate: (header.timebase_denominator, header.timebase_numerator),
            frames,
            error,
            data,
        })
    }

    /// The width the container declares (the keyframes are authoritative).
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u16 {
        self.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u16 {
        self.height
    }

    /// Frames per second, from the timebase (one tick per frame).
    #[wasm_bindgen(getter, js_name = frameRate)]
    pub fn frame_rate(&self) -> f64 {
        if self.rate.1 == 0 {
            0.0
        } else {
            f64::from(self.rate.0) / f64::from(self.rate.1)
        }
    }

    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.frames.len()
    }

    /// Why the file ended early, if it did: the frames before it are all there.
    #[wasm_bindgen(getter)]
    pub fn error(&self) -> Option<String> {
        self.error.clone()
    }

    /// Frame `index`'s compressed bytes.
    pub fn frame(&self, index: usize) -> Result<Vec<u8>, JsError> {
        self.frames
            .get(index)
            .map(|&(start, len)| self.data[start..start + len].to_vec())
            .ok_or_else(|| {
                JsError::new(&format!(
                    "frame {index} is past the end of the file ({} frames)",
                    self.frames.len()
                ))
            })
    }
}

/// Each IVF frame starts with a 4-byte length and an 8-byte timestamp.
const IVF_FRAME_HEADER_LEN: usize = 12;

type IvfIndex = (
    codec_core::container::ivf::IvfHeader,
    Vec<(usize, usize)>,
    Option<String>,
);

/// The header, the (start, length) of every whole frame, and the error that stopped the
/// reading early, if one did.
fn split_ivf(data: &[u8]) -> Result<IvfIndex, String> {
    let (header, frames) = parse_ivf(data).map_err(|e| format!("not an IVF file: {e}"))?;
    if header.fourcc != VP8_FOURCC {
        return Err(format!(
            "the IVF file holds {:?}, not VP8 (VP80)",
            String::from_utf8_lossy(&header.fourcc)
        ));
    }
    let mut index = Vec::new();
    for frame in frames {
        match frame {
            Ok(frame) => index.push((frame.offset + IVF_FRAME_HEADER_LEN, frame.data.len())),
            Err(e) => return Ok((header, index, Some(e.to_string()))),
        }
    }
    Ok((header, index, None))
}

#[cfg(test)]
mod tests;
