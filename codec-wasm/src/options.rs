//! Encoder options as the page writes them: a JSON object, every field optional, with
//! `codec_core::EncodeParams`'s defaults.

use codec_core::EncodeParams;
use codec_core::encoder::ReferenceUpdate;
use serde::Deserialize;

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    quantizer: Option<u8>,
    keyframe: Option<bool>,
    speed: Option<u8>,
    token_partitions_log2: Option<u8>,
    loop_filter_level: Option<u8>,
    sharpness: Option<u8>,
    refresh: Option<Refresh>,
    show: Option<bool>,
    sign_bias_golden: Option<bool>,
    sign_bias_altref: Option<bool>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Refresh {
    last: bool,
    golden: bool,
    altref: bool,
    #[serde(default)]
    golden_to_altref: bool,
}

/// Parses `json` (an object, or empty for all defaults) into encoder parameters.
///
/// # Errors
///
/// Malformed JSON, an unknown field, or a value of the wrong type, with serde's position.
/// Ranges are checked by `codec_core::encode` itself.
pub fn encode_params(json: &str) -> Result<EncodeParams, String> {
    let options: Options = if json.trim().is_empty() {
        Options::default()
    } else {
        serde_json::from_str(json).map_err(|e| format!("encoder options: {e}"))?
    };
    let defaults = EncodeParams::default();
    Ok(EncodeParams {
        quantizer: options.quantizer.unwrap_or(defaults.quantizer),
        keyframe: options.keyframe.unwrap_or(defaults.keyframe),
        speed: options.speed.unwrap_or(defaults.speed),
        token_partitions_log2: options
            .token_partitions_log2
            .unwrap_or(defaults.token_partitions_log2),
        loop_filter_level: options.loop_filter_level.or(defaults.loop_filter_level),
        sharpness: options.sharpness.unwrap_or(defaults.sharpness),
        references: options
            .refresh
            .map_or(defaults.references, |r| ReferenceUpdate {
                last: r.last,
                golden: r.golden,
                altref: r.altref,
                golden_to_altref: r.golden_to_altref,
                altref_to_golden: false,
            }),
        show: options.show.unwrap_or(defaults.show),
        sign_bias_golden: options
            .sign_bias_golden
            .unwrap_or(defaults.sign_bias_golden),
        sign_bias_altref: options
            .sign_bias_altref
            .unwrap_or(defaults.sign_bias_altref),
        ..defaults
    })
}
