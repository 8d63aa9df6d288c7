//! Model surgery that lets tract run a Piper voice's text encoder over any
//! number of ids with one plan, instead of one plan per padded length
//! (workaround 3 of `model`), each packing its own copy of the encoder's
//! weights (issue 21).
//!
//! tract refuses a symbolic id length `S` in three places of each layer's
//! relative-position attention (VITS's `_relative_position_to_absolute_position`,
//! its inverse, and the padding of the relative embeddings); each is
//! rewritten here, in the ONNX protobuf, to an equivalent that tract accepts:
//!
//! - relative → absolute: the `[S, 2S]` scores are flattened, padded by
//!   `S-1` and reshaped to `[S+1, 2S-1]`, a volume tract's symbolic
//!   arithmetic cannot prove equal to `2S²+S-1`. The same values are the
//!   first `S·(2S-1)` of the flattened scores reshaped to `[S, 2S-1]`
//!   (a product with one sum, which tract expands). The slice after it ends
//!   at `S` and `2S-1`, not at `INT_MAX`: tract does not clamp a symbolic end.
//! - absolute → relative: two `Pad`s by `S-1` and `S` (tract's `Pad` needs
//!   concrete amounts) become `Concat`s with zeros `Expand`ed to the padding's
//!   shape; the final slice ends at `2S`.
//! - the relative embeddings (`2w+1` rows) are padded by `S-w-1` on each
//!   side and sliced to `2S-1` rows at run time. A table padded once, here,
//!   to [`crate::MAX_IDS`] ids is sliced instead, in two steps: rows
//!   `[0, MAX+S-1)`, then their last `2S-1` (a start of `MAX-S` would look
//!   negative to tract, which would then add the axis length).
//!
//! The rewrite is all or nothing: a graph in which any layer does not have
//! this exact structure is left untouched, and the voice keeps one plan per
//! bucket. Checked against onnxruntime (the original graph against the
//! rewritten one, 3, 25 and 80 ids: identical output) and, in the tests,
//! against the bucket plans.

use std::collections::HashMap;

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, TensorProto};

/// The prefix of every name this rewrite adds to the graph.
const PREFIX: &str = "llm-bridge/any-length/";

/// The values of an int64 constant: an initializer or a `Constant` node's.
fn int64_constant(graph: &GraphProto, name: &str) -> Option<Vec<i64>> {
    let values = |t: &TensorProto| -> Option<Vec<i64>> {
        if t.data_type != DataType::Int64 as i32 {
            return None;
        }
        if !t.int64_data.is_empty() {
            return Some(t.int64_data.clone());
        }
        Some(
            t.raw_data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8 bytes")))
                .collect(),
        )
    };
    if let Some(t) = graph.initializer.iter().find(|t| t.name == name) {
        return values(t);
    }
    let node = graph
        .node
        .iter()
        .find(|n| n.op_type == "Constant" && n.output.first().is_some_and(|o| o == name))?;
    node.attribute
        .iter()
        .find(|a| a.name == "value")
        .and_then(|a| a.t.as_ref())
        .and_then(values)
}

/// The values and shape of a float initializer.
fn float_initializer(graph: &GraphProto, name: &str) -> Option<(Vec<f32>, Vec<i64>)> {
    let t = graph.initializer.iter().find(|t| t.name == name)?;
    if t.data_type != DataType::Float as i32 {
        return None;
    }
    let values = if t.float_data.is_empty() {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("chunks of 4 bytes")))
            .collect()
    } else {
        t.float_data.clone()
    };
    Some((values, t.dims.clone()))
}

fn int64_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        name: format!("{PREFIX}{name}"),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

/// A `Concat` of `inputs` along `along`.
fn concat(name: &str, inputs: &[&str], output: &str, along: i64) -> NodeProto {
    let mut n = node("Concat", name, inputs, output);
    n.attribute.push(axis(along));
    n
}

fn axis(value: i64) -> AttributeProto {
    AttributeProto {
        name: "axis".into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

/// The graph's wiring: which node makes each value, and which use it.
struct Wiring {
    producer: HashMap<String, usize>,
    consumers: HashMap<String, Vec<usize>>,
}

impl Wiring {
    fn of(graph: &GraphProto) -> Wiring {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            for o in &n.output {
                producer.insert(o.clone(), i);
            }
            for input in &n.input {
                consumers.entry(input.clone()).or_default().push(i);
            }
        }
        Wiring {
            producer,
            consumers,
        }
    }

    /// The node that makes node `i`'s first input, if it is an `op`.
    fn feeds(&self, graph: &GraphProto, i: usize, op: &str) -> Option<usize> {
        let p = *self.producer.get(graph.node[i].input.first()?)?;
        (graph.node[p].op_type == op).then_some(p)
    }

    /// The one node that uses node `i`'s output.
    fn only_consumer(&self, graph: &GraphProto, i: usize) -> Option<usize> {
        match self
            .consumers
            .get(graph.node[i].output.first()?)?
            .as_slice()
        {
            [c] => Some(*c),
            _ => None,
        }
    }
}

/// One layer's relative → absolute conversion: `MatMul → Pad → Reshape →
/// Pad → Reshape → Slice`.
struct RelToAbs {
    flat: usize,
    pad: usize,
    reshape: usize,
    slice: usize,
}

/// One layer's absolute → relative conversion: `Softmax → Pad → Reshape →
/// Pad → Reshape → Slice`.
struct AbsToRel {
    softmax: usize,
    pad_columns: usize,
    pad_front: usize,
    slice: usize,
}

/// One padded relative embedding: `initializer → Pad → Slice`.
struct Embedding {
    pad: usize,
    slice: usize,
    table: String,
}

/// Whether the node's input `ix` is a constant equal to `values`.
fn constant_input_is(graph: &GraphProto, node: &NodeProto, ix: usize, values: &[&[i64]]) -> bool {
    node.input
        .get(ix)
        .and_then(|name| int64_constant(graph, name))
        .is_some_and(|v| values.iter().any(|w| v == *w))
}

fn find(graph: &GraphProto) -> Option<(Vec<RelToAbs>, Vec<AbsToRel>, Vec<Embedding>)> {
    let w = Wiring::of(graph);
    let mut rel = Vec::new();
    let mut abs = Vec::new();
    let mut emb = Vec::new();
    for (i, n) in graph.node.iter().enumerate() {
        match n.op_type.as_str() {
            "Reshape" => {
                let Some(pad) = w.feeds(graph, i, "Pad") else {
                    continue;
                };
                let Some(flat) = w.feeds(graph, pad, "Reshape") else {
                    continue;
                };
                let Some(pad_last) = w.feeds(graph, flat, "Pad") else {
                    continue;
                };
                if w.feeds(graph, pad_last, "MatMul").is_none() {
                    continue;
                }
                let slice = w.only_consumer(graph, i)?;
                let s = &graph.node[slice];
                // Rows from 0, columns from S-1, on the last two axes.
                if s.op_type != "Slice" || !constant_input_is(graph, s, 3, &[&[2, 3], &[-2, -1]]) {
                    return None;
                }
                if w.only_consumer(graph, pad)? != i || w.only_consumer(graph, flat)? != pad {
                    return None;
                }
                rel.push(RelToAbs {
                    flat,
                    pad,
                    reshape: i,
                    slice,
                });
            }
            "Slice" => {
                let Some(reshape) = w.feeds(graph, i, "Reshape") else {
                    continue;
                };
                let Some(pad_front) = w.feeds(graph, reshape, "Pad") else {
                    continue;
                };
                let Some(flat) = w.feeds(graph, pad_front, "Reshape") else {
                    continue;
                };
                let Some(pad_columns) = w.feeds(graph, flat, "Pad") else {
                    continue;
                };
                let Some(softmax) = w.feeds(graph, pad_columns, "Softmax") else {
                    continue;
                };
                // From column 1 to the end, on the last axis.
                if !constant_input_is(graph, n, 1, &[&[1]])
                    || !constant_input_is(graph, n, 3, &[&[3], &[-1]])
                {
                    return None;
                }
                abs.push(AbsToRel {
                    softmax,
                    pad_columns,
                    pad_front,
                    slice: i,
                });
            }
            "Pad" => {
                let Some(table) = n.input.first() else {
                    continue;
                };
                if !table.ends_with("emb_rel_k") && !table.ends_with("emb_rel_v") {
                    continue;
                }
                let (_, dims) = float_initializer(graph, table)?;
                if dims.len() != 3 || dims[0] != 1 || dims[1] % 2 != 1 {
                    return None;
                }
                let slice = w.only_consumer(graph, i)?;
                let s = &graph.node[slice];
                // From row 0 on axis 1, in steps of 1.
                if s.op_type != "Slice"
                    || !constant_input_is(graph, s, 1, &[&[0]])
                    || !constant_input_is(graph, s, 3, &[&[1]])
                    || s.input.get(4).is_some_and(|st| !st.is_empty())
                        && !constant_input_is(graph, s, 4, &[&[1]])
                {
                    return None;
                }
                emb.push(Embedding {
                    pad: i,
                    slice,
                    table: table.clone(),
                });
            }
            _ => {}
        }
    }
    let layers = rel.len();
    (layers > 0 && abs.len() == layers && emb.len() == 2 * layers).then_some((rel, abs, emb))
}

/// Rewrites every attention layer of a Piper voice's text encoder so that
/// tract accepts any id length up to `max_ids` (see the module's doc).
/// Returns the number of layers rewritten: 0 when the graph does not have
/// the expected structure, which is then left untouched.
pub fn rewrite(graph: &mut GraphProto, max_ids: usize) -> usize {
    let Some(ids) = graph
        .input
        .iter()
        .find(|i| i.name == "input")
        .map(|i| i.name.clone())
    else {
        return 0;
    };
    let Some((rel, abs, emb)) = find(graph) else {
        return 0;
    };
    let max = max_ids as i64;
    let name = |s: &str| format!("{PREFIX}{s}");
    let mut nodes = Vec::new();
    let mut initializers = vec![
        int64_tensor(&name("one"), &[1]),
        int64_tensor(&name("two"), &[2]),
        int64_tensor(&name("zero"), &[0]),
        int64_tensor(&name("max-1"), &[max - 1]),
        int64_tensor(&name("axis1"), &[1]),
        int64_tensor(&name("axis-1"), &[-1]),
        TensorProto {
            name: name("0.0"),
            dims: vec![1],
            data_type: DataType::Float as i32,
            float_data: vec![0.0],
            ..Default::default()
        },
    ];
    // The id count S and what is made of it, once for every layer.
    let (one, zero, axis1, last) = (name("one"), name("zero"), name("axis1"), name("axis-1"));
    let scalar = |op: &str, out: &str, inputs: &[&str]| node(op, out, inputs, &name(out));
    nodes.push(scalar("Shape", "ids-shape", &[&ids]));
    nodes.push(scalar(
        "Slice",
        "S",
        &[&name("ids-shape"), &one, &name("two")],
    ));
    nodes.push(scalar("Sub", "S-1", &[&name("S"), &one]));
    nodes.push(scalar("Add", "2S", &[&name("S"), &name("S")]));
    nodes.push(scalar("Sub", "2S-1", &[&name("2S"), &one]));
    nodes.push(scalar("Neg", "1-2S", &[&name("2S-1")]));
    nodes.push(scalar("Mul", "S(2S-1)", &[&name("S"), &name("2S-1")]));
    nodes.push(scalar("Add", "MAX+S-1", &[&name("S"), &name("max-1")]));
    nodes.push(concat(
        "S,2S-1",
        &[&name("S"), &name("2S-1")],
        &name("S,2S-1"),
        0,
    ));
    let mut remove = Vec::new();

    for (k, r) in rel.iter().enumerate() {
        let p = |s: &str| name(&format!("rel{k}/{s}"));
        let flat = graph.node[r.flat].output[0].clone();
        nodes.push(node(
            "Shape",
            &format!("rel{k}/shape"),
            &[&flat],
            &p("shape"),
        ));
        nodes.push(node(
            "Slice",
            &format!("rel{k}/bh"),
            &[&p("shape"), &zero, &name("two")],
            &p("bh"),
        ));
        nodes.push(node(
            "Slice",
            &format!("rel{k}/rows"),
            &[&flat, &zero, &name("S(2S-1)"), &last],
            &p("rows"),
        ));
        nodes.push(concat(
            &format!("rel{k}/target"),
            &[&p("bh"), &name("S"), &name("2S-1")],
            &p("target"),
            0,
        ));
        let reshape = &mut graph.node[r.reshape];
        reshape.input = vec![p("rows"), p("target")];
        let slice = &mut graph.node[r.slice];
        slice.input[2] = name("S,2S-1");
        remove.push(r.pad);
    }

    for (k, a) in abs.iter().enumerate() {
        let p = |s: &str| name(&format!("abs{k}/{s}"));
        let scores = graph.node[a.softmax].output[0].clone();
        nodes.push(node(
            "Shape",
            &format!("abs{k}/shape"),
            &[&scores],
            &p("shape"),
        ));
        nodes.push(node(
            "Slice",
            &format!("abs{k}/bh"),
            &[&p("shape"), &zero, &name("two")],
            &p("bh"),
        ));
        nodes.push(concat(
            &format!("abs{k}/columns"),
            &[&p("bh"), &name("S"), &name("S-1")],
            &p("columns"),
            0,
        ));
        nodes.push(node(
            "Expand",
            &format!("abs{k}/column-zeros"),
            &[&name("0.0"), &p("columns")],
            &p("column-zeros"),
        ));
        nodes.push(concat(
            &format!("abs{k}/front"),
            &[&p("bh"), &name("S")],
            &p("front"),
            0,
        ));
        nodes.push(node(
            "Expand",
            &format!("abs{k}/front-zeros"),
            &[&name("0.0"), &p("front")],
            &p("front-zeros"),
        ));
        // Each Pad becomes a Concat under the same output name.
        let pad = &mut graph.node[a.pad_columns];
        pad.op_type = "Concat".into();
        pad.input = vec![scores.clone(), p("column-zeros")];
        pad.attribute = vec![axis(3)];
        let pad = &mut graph.node[a.pad_front];
        let data = pad.input[0].clone();
        pad.op_type = "Concat".into();
        pad.input = vec![p("front-zeros"), data];
        pad.attribute = vec![axis(2)];
        graph.node[a.slice].input[2] = name("2S");
    }

    for (k, e) in emb.iter().enumerate() {
        let p = |s: &str| name(&format!("emb{k}/{s}"));
        let (values, dims) = float_initializer(graph, &e.table).expect("checked by find");
        let (rows, width) = (dims[1] as usize, dims[2] as usize);
        let w = rows / 2;
        let Some(pad) = max_ids.checked_sub(w + 1) else {
            return 0;
        };
        let mut table = vec![0.0f32; (rows + 2 * pad) * width];
        table[pad * width..(pad + rows) * width].copy_from_slice(&values);
        initializers.push(TensorProto {
            name: p("table"),
            dims: vec![1, (rows + 2 * pad) as i64, width as i64],
            data_type: DataType::Float as i32,
            raw_data: table.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        nodes.push(node(
            "Slice",
            &format!("emb{k}/head"),
            &[&p("table"), &zero, &name("MAX+S-1"), &axis1],
            &p("head"),
        ));
        let slice = &mut graph.node[e.slice];
        slice.input[0] = p("head");
        slice.input[1] = name("1-2S");
        slice.input[2] = name("MAX+S-1");
        remove.push(e.pad);
    }

    remove.sort_unstable();
    for i in remove.into_iter().rev() {
        graph.node.remove(i);
    }
    graph.node.extend(nodes);
    graph.initializer.extend(initializers);
    rel.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::ValueInfoProto;

    fn graph_with(nodes: Vec<NodeProto>) -> GraphProto {
        GraphProto {
            input: vec![ValueInfoProto {
                name: "input".into(),
                ..Default::default()
            }],
            node: nodes,
            ..Default::default()
        }
    }

    #[test]
    fn a_graph_without_the_attention_structure_is_left_untouched() {
        let nodes = vec![
            node("MatMul", "m", &["input", "w"], "scores"),
            node("Pad", "p", &["scores", "pads"], "padded"),
            node("Reshape", "r", &["padded", "shape"], "flat"),
        ];
        let mut graph = graph_with(nodes);
        let before = graph.clone();
        assert_eq!(rewrite(&mut graph, 512), 0);
        assert_eq!(graph, before);
        let mut empty = graph_with(Vec::new());
        assert_eq!(rewrite(&mut empty, 512), 0);
        assert!(empty.node.is_empty() && empty.initializer.is_empty());
    }

    #[test]
    fn reads_int64_constants_in_both_encodings() {
        let mut graph = graph_with(Vec::new());
        graph.initializer.push(int64_tensor("a", &[2, 3]));
        graph.initializer.push(TensorProto {
            name: "b".into(),
            dims: vec![1],
            data_type: DataType::Int64 as i32,
            raw_data: (-1i64).to_le_bytes().to_vec(),
            ..Default::default()
        });
        assert_eq!(int64_constant(&graph, "a"), Some(vec![2, 3]));
        assert_eq!(int64_constant(&graph, "b"), Some(vec![-1]));
        assert_eq!(int64_constant(&graph, "c"), None);
    }
}
