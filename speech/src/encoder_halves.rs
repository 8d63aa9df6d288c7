//! The encoder over any id length, planned as two halves (issue 21).
//!
//! tract's optimizer takes more than linear time in the size of the graph
//! it optimizes: planning the whole encoder over a symbolic id length (about
//! 2,400 nodes, 1,600 patches) took 0.8 s of the voice's 1.15 s to get
//! ready, while its two halves, the text encoder (about 750 nodes) and the
//! duration predictor with the prior's sampling (about 1,650), take half as
//! long between them, and can be planned on two threads at once.
//!
//! The cut is made in tract's typed graph, where both halves share the
//! symbol of the id length: the second half takes the cut tensors as
//! inputs, with the facts the whole graph gave them. Running the halves one
//! after the other computes what the whole graph computes, op for op.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tract_onnx::pb::GraphProto;
use tract_onnx::prelude::*;

use crate::model::tract_err;

/// The most tensors a cut may have: Piper's text encoder hands on four (its
/// output, the mask twice, the projected statistics); many more would mean
/// the cut is not where this module expects it.
const MAX_CUT: usize = 8;

/// The ONNX names of the tensors the text encoder hands on to the rest of
/// the encoder, in the order the rest first uses them, or `None` when the
/// graph has no such cut.
///
/// The text encoder ends with the `Split` of its projection into the
/// prior's means and log-deviations (`m_p`, `logs_p`), the first `Split` of
/// a Piper graph (ONNX lists nodes in topological order). The cut is every
/// tensor made before that node, used from it on, and computed from the ids
/// (`input`, `input_lengths`). What is computed from the scales or the
/// speaker alone (their `Gather`s), or from constants, is left to the
/// second half, which takes those inputs too.
pub fn find(graph: &GraphProto) -> Option<Vec<String>> {
    let split = graph.node.iter().position(|n| n.op_type == "Split")?;
    let mut from_ids: HashSet<&str> = ["input", "input_lengths"].into_iter().collect();
    let mut made_before = HashSet::new();
    for node in &graph.node[..split] {
        let tainted = node.input.iter().any(|i| from_ids.contains(i.as_str()));
        for output in &node.output {
            made_before.insert(output.as_str());
            if tainted {
                from_ids.insert(output.as_str());
            }
        }
    }
    let mut cut: Vec<String> = Vec::new();
    for node in &graph.node[split..] {
        for input in &node.input {
            let input = input.as_str();
            if made_before.contains(input)
                && from_ids.contains(input)
                && !cut.iter().any(|c| c == input)
            {
                cut.push(input.to_string());
            }
        }
    }
    (!cut.is_empty() && cut.len() <= MAX_CUT).then_some(cut)
}

/// Runs one plan on its inputs (or profiles it).
pub type RunPlan<'a> =
    dyn FnMut(&Arc<TypedSimplePlan>, TVec<TValue>) -> TractResult<TVec<TValue>> + 'a;

/// The encoder's two plans: the text encoder, which takes the whole
/// encoder's inputs, and the rest, which takes the text encoder's outputs
/// and some of the whole encoder's inputs (the scales, the speaker).
#[derive(Clone)]
pub struct Halves {
    text: Arc<TypedSimplePlan>,
    rest: Arc<TypedSimplePlan>,
    /// Which of the whole encoder's inputs the rest also takes, in order.
    side: Vec<usize>,
}

impl Halves {
    /// Cuts `whole` (the encoder's typed graph) at the tensors named `cut`
    /// and plans both halves, the rest on a second thread. `side`: the
    /// indices of the inputs the rest takes besides the cut.
    pub fn plan(whole: TypedModel, cut: &[String], side: &[usize]) -> Result<Halves> {
        let (text, rest) = cut_in_two(whole, cut, side)?;
        let optimize = |model: TypedModel| -> Result<Arc<TypedSimplePlan>> {
            model
                .into_optimized()
                .and_then(|m| m.into_runnable())
                .map_err(tract_err)
        };
        let (text, rest) = std::thread::scope(|scope| -> Result<_> {
            let rest = std::thread::Builder::new()
                .name("llm-bridge-plan".into())
                .spawn_scoped(scope, || optimize(rest))
                .context("starting a thread to plan the rest of the encoder")?;
            let text = optimize(text).context("planning the text encoder");
            let rest = rest
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the planning thread panicked")))
                .context("planning the rest of the encoder");
            Ok((text?, rest?))
        })?;
        Ok(Halves {
            text,
            rest,
            side: side.to_vec(),
        })
    }

    /// Runs both halves on the whole encoder's inputs, each through `run`.
    pub fn run_with(&self, inputs: TVec<TValue>, run: &mut RunPlan) -> TractResult<TVec<TValue>> {
        let mut handed = run(&self.text, inputs.clone())?;
        handed.extend(self.side.iter().map(|&i| inputs[i].clone()));
        run(&self.rest, handed)
    }
}

/// The two halves of `whole`, not yet optimized: the text encoder, whose
/// outputs are the `cut` tensors, and the rest, whose inputs are the cut
/// tensors and then the `side` inputs of `whole`.
fn cut_in_two(
    whole: TypedModel,
    cut: &[String],
    side: &[usize],
) -> Result<(TypedModel, TypedModel)> {
    let outlets = cut
        .iter()
        .map(|name| {
            whole
                .find_outlet_label(name)
                .with_context(|| format!("tract has no tensor {name:?} to cut at"))
        })
        .collect::<Result<Vec<_>>>()?;
    let inputs = whole.input_outlets().map_err(tract_err)?.to_vec();
    let mut side_inputs = Vec::with_capacity(side.len());
    for &i in side {
        side_inputs.push(*inputs.get(i).context("no such encoder input")?);
    }

    let mut text = whole.clone();
    text.select_output_outlets(&outlets).map_err(tract_err)?;
    text.compact()
        .map_err(tract_err)
        .context("cutting out the text encoder")?;

    let mut rest = whole;
    let mut rest_inputs = Vec::with_capacity(outlets.len() + side_inputs.len());
    for (i, &outlet) in outlets.iter().enumerate() {
        let fact = rest.outlet_fact(outlet).map_err(tract_err)?.clone();
        let users = rest.outlet_successors(outlet).to_vec();
        let source = rest
            .add_source(format!("llm-bridge/text-encoder/{i}"), fact)
            .map_err(tract_err)?;
        for inlet in users {
            rest.add_edge(source, inlet).map_err(tract_err)?;
        }
        rest_inputs.push(source);
    }
    rest_inputs.extend(side_inputs);
    rest.set_input_outlets(&rest_inputs).map_err(tract_err)?;
    rest.compact()
        .map_err(tract_err)
        .context("cutting out the rest of the encoder")?;
    let sources = crate::model::sources(&rest);
    if sources != rest_inputs.len() {
        bail!(
            "the rest of the encoder needs {sources} inputs, not {}: the cut misses a tensor",
            rest_inputs.len()
        );
    }
    Ok((text, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::NodeProto;

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: format!("/{output}"),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    #[test]
    fn cuts_what_the_ids_make_before_the_first_split_and_is_used_after() {
        let graph = GraphProto {
            node: vec![
                node("Gather", &["emb", "input"], "x0"),
                node("Cast", &["input_lengths"], "mask"),
                node("Mul", &["x0", "mask"], "x"),
                node("Gather", &["scales", "one"], "noise_w"),
                node("Conv", &["x", "w"], "stats"),
                node("Split", &["stats"], "m"),
                node("Conv", &["x", "dp_w"], "dp"),
                node("Mul", &["dp", "mask"], "dp_masked"),
                node("Mul", &["dp_masked", "noise_w"], "logw"),
                node("Mul", &["m", "x"], "prior"),
            ],
            ..Default::default()
        };
        // The scales' Gather is not cut: the second half takes the scales.
        assert_eq!(
            find(&graph),
            Some(vec!["stats".to_string(), "x".into(), "mask".into()])
        );
    }

    #[test]
    fn a_graph_without_a_split_has_no_cut() {
        let graph = GraphProto {
            node: vec![
                node("Gather", &["emb", "input"], "x"),
                node("Relu", &["x"], "y"),
            ],
            ..Default::default()
        };
        assert_eq!(find(&graph), None);
    }
}
