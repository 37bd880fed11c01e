//! Training: split, preprocessing learnt from the training rows only, a smartcore fit, and the
//! fitted model turned into the stored form of `core.rs` (coefficients, or trees read from
//! smartcore's serde form, whose nodes are not public otherwise).
use serde_json::{json, Value as Json};
use smartcore::ensemble::random_forest_classifier::{RandomForestClassifier, RandomForestClassifierParameters};
use smartcore::linalg::basic::arrays::{Array, Array2};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion,
};
use xxhash_rust::xxh3::Xxh3;

use super::metrics::{evaluate, Metrics};
use super::{Algorithm, Input, Linear, Model, Tree, Value, FORMAT};
use crate::error::{Kind, PulseError, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Numeric(Vec<Option<f64>>),
    Categorical(Vec<Option<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
}

impl Column {
    fn value(&self, row: usize) -> Value {
        match &self.data {
            ColumnData::Numeric(v) => v[row].map_or(Value::Null, Value::Number),
            ColumnData::Categorical(v) => v[row].as_ref().map_or(Value::Null, |s| Value::Text(s.clone())),
        }
    }
}

/// Rows read from a training or labelled query: feature columns, labels, and the time column
/// (microseconds) when the split is by time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    pub columns: Vec<Column>,
    pub labels: Vec<bool>,
    pub times: Option<Vec<i64>>,
}

impl Dataset {
    /// xxh3-64 of each row's values and label (NULLs and column boundaries marked).
    fn row_hashes(&self) -> Vec<u64> {
        (0..self.labels.len())
            .map(|r| {
                let mut h = Xxh3::new();
                for c in &self.columns {
                    match &c.data {
                        ColumnData::Numeric(v) => match v[r] {
                            Some(x) => h.update(&x.to_bits().to_le_bytes()),
                            None => h.update(&[0xfe]),
                        },
                        ColumnData::Categorical(v) => match &v[r] {
                            Some(s) => {
                                h.update(s.as_bytes());
                                h.update(&[0]);
                            }
                            None => h.update(&[0xfe]),
                        },
                    }
                    h.update(&[0xff]);
                }
                h.update(&[self.labels[r] as u8]);
                h.digest()
            })
            .collect()
    }

    /// xxh3-64 of the column names and the sorted row hashes: equal data, equal fingerprint,
    /// whatever order the query returned the rows in.
    pub fn fingerprint(&self) -> String {
        let mut rows = self.row_hashes();
        rows.sort_unstable();
        let mut h = Xxh3::new();
        for c in &self.columns {
            h.update(c.name.as_bytes());
            h.update(&[0xff]);
        }
        rows.iter().for_each(|r| h.update(&r.to_le_bytes()));
        format!("{:016x}", h.digest())
    }

    /// The rows in a canonical order (time, then content), so that the split and the fit do not
    /// depend on the order a query without ORDER BY happened to return.
    fn canonical(&self) -> (Dataset, Vec<u64>) {
        let hashes = self.row_hashes();
        let time = |i: usize| self.times.as_ref().map_or(0, |t| t[i]);
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.sort_by_key(|&i| (time(i), hashes[i], self.labels[i]));
        let pick = |c: &Column| Column {
            name: c.name.clone(),
            data: match &c.data {
                ColumnData::Numeric(v) => ColumnData::Numeric(order.iter().map(|&i| v[i]).collect()),
                ColumnData::Categorical(v) => ColumnData::Categorical(order.iter().map(|&i| v[i].clone()).collect()),
            },
        };
        let data = Dataset {
            columns: self.columns.iter().map(pick).collect(),
            labels: order.iter().map(|&i| self.labels[i]).collect(),
            times: self.times.as_ref().map(|t| order.iter().map(|&i| t[i]).collect()),
        };
        (data, order.iter().map(|&i| hashes[i]).collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The latest `test_fraction` of the rows by the time column are held out.
    Time,
    /// Each class is shuffled (seeded) and `test_fraction` of it held out.
    Stratified,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub algorithm: Algorithm,
    pub seed: u64,
    pub threshold: f64,
    pub split: Option<Split>,
    pub time_column: Option<String>,
    pub exclude: Vec<String>,
    pub max_categories: usize,
    pub alpha: f64,
    pub max_depth: u16,
    pub min_samples_leaf: usize,
    pub min_samples_split: usize,
    pub n_trees: u16,
    pub max_features: Option<usize>,
}

const COMMON_KEYS: &[&str] = &["seed", "threshold", "split", "time_column", "exclude", "max_categories"];

impl Params {
    pub fn parse(algorithm: Algorithm, params: &Json) -> Result<Self> {
        let obj = params.as_object().ok_or_else(|| PulseError::invalid("params must be a jsonb object"))?;
        let (depth, leaf, split) = match algorithm {
            Algorithm::RandomForest => (10, 5, 10),
            _ => (8, 20, 40),
        };
        let mut p = Params {
            algorithm,
            seed: 42,
            threshold: 0.5,
            split: None,
            time_column: None,
            exclude: vec![],
            max_categories: 20,
            alpha: 1.0,
            max_depth: depth,
            min_samples_leaf: leaf,
            min_samples_split: split,
            n_trees: 50,
            max_features: None,
        };
        let own: &[&str] = match algorithm {
            Algorithm::LogisticRegression => &["alpha"],
            Algorithm::DecisionTree => &["max_depth", "min_samples_leaf", "min_samples_split"],
            Algorithm::RandomForest => {
                &["n_trees", "max_depth", "min_samples_leaf", "min_samples_split", "max_features"]
            }
        };
        for (key, v) in obj {
            let bad = |what: &str| PulseError::invalid(format!("params.{key} must be {what}"));
            let count = |lo: u64, hi: u64| {
                v.as_u64().filter(|n| (lo..=hi).contains(n)).ok_or_else(|| bad(&format!("an integer in [{lo}, {hi}]")))
            };
            match key.as_str() {
                "seed" => p.seed = v.as_u64().ok_or_else(|| bad("a non-negative integer"))?,
                "threshold" => {
                    p.threshold = v.as_f64().filter(|t| *t > 0.0 && *t < 1.0).ok_or_else(|| bad("in (0, 1)"))?
                }
                "split" => {
                    p.split = Some(match v.as_str() {
                        Some("time") => Split::Time,
                        Some("stratified") => Split::Stratified,
                        _ => return Err(bad("\"time\" or \"stratified\"")),
                    })
                }
                "time_column" => p.time_column = Some(v.as_str().ok_or_else(|| bad("a column name"))?.to_string()),
                "exclude" => {
                    p.exclude = v
                        .as_array()
                        .and_then(|a| a.iter().map(|s| s.as_str().map(String::from)).collect())
                        .ok_or_else(|| bad("an array of column names"))?
                }
                "max_categories" => p.max_categories = count(1, 1000)? as usize,
                "alpha" if own.contains(&"alpha") => {
                    p.alpha = v.as_f64().filter(|a| *a >= 0.0 && a.is_finite()).ok_or_else(|| bad(">= 0"))?
                }
                "max_depth" if own.contains(&"max_depth") => p.max_depth = count(1, 64)? as u16,
                "min_samples_leaf" if own.contains(&"min_samples_leaf") => {
                    p.min_samples_leaf = count(1, 1 << 30)? as usize
                }
                "min_samples_split" if own.contains(&"min_samples_split") => {
                    p.min_samples_split = count(2, 1 << 30)? as usize
                }
                "n_trees" if own.contains(&"n_trees") => p.n_trees = count(1, 1000)? as u16,
                "max_features" if own.contains(&"max_features") => p.max_features = Some(count(1, 100_000)? as usize),
                _ => {
                    return Err(PulseError::invalid(format!("unknown parameter \"{key}\" for {}", algorithm.name()))
                        .hint(format!("Accepted: {}.", [COMMON_KEYS, own].concat().join(", "))))
                }
            }
        }
        Ok(p)
    }

    /// The parameters as recorded with the model, defaults included.
    pub fn to_json(&self, split: Split) -> Json {
        let mut j = json!({
            "seed": self.seed, "threshold": self.threshold, "max_categories": self.max_categories,
            "split": match split { Split::Time => "time", Split::Stratified => "stratified" },
        });
        let o = j.as_object_mut().expect("object");
        if let Some(t) = &self.time_column {
            o.insert("time_column".into(), json!(t));
        }
        if !self.exclude.is_empty() {
            o.insert("exclude".into(), json!(self.exclude));
        }
        match self.algorithm {
            Algorithm::LogisticRegression => {
                o.insert("alpha".into(), json!(self.alpha));
            }
            Algorithm::DecisionTree | Algorithm::RandomForest => {
                o.insert("max_depth".into(), json!(self.max_depth));
                o.insert("min_samples_leaf".into(), json!(self.min_samples_leaf));
                o.insert("min_samples_split".into(), json!(self.min_samples_split));
            }
        }
        if self.algorithm == Algorithm::RandomForest {
            o.insert("n_trees".into(), json!(self.n_trees));
            o.insert("max_features".into(), json!(self.max_features));
        }
        j
    }
}

#[derive(Debug)]
pub struct Trained {
    pub model: Model,
    pub params: Json,
    /// Hold-out metrics (None when test_fraction is 0).
    pub metrics: Option<Metrics>,
    pub train_rows: usize,
    pub test_rows: usize,
}

/// Splits, preprocesses, fits and evaluates. `label` is the label column's name.
pub fn train(data: &Dataset, label: &str, params: &Params, test_fraction: f64) -> Result<Trained> {
    let n = data.labels.len();
    if n == 0 {
        return Err(PulseError::invalid("the training query returned no rows"));
    }
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(PulseError::invalid("test_fraction must be in [0, 1)"));
    }
    if data.columns.is_empty() {
        return Err(PulseError::invalid("the training query has no feature columns")
            .hint(format!("Select the features next to the label column \"{label}\".")));
    }
    check_finite(data)?;
    let positives = data.labels.iter().filter(|&&l| l).count();
    if positives == 0 || positives == n {
        return Err(PulseError::invalid(format!(
            "label \"{label}\" has one class only ({positives} of {n} rows true)"
        ))
        .hint("A classifier needs both true and false labels."));
    }
    let split = params.split.unwrap_or(if data.times.is_some() { Split::Time } else { Split::Stratified });
    let (canonical, hashes) = data.canonical();
    let data = &canonical;
    let (train_idx, test_idx) = split_rows(data, &hashes, split, test_fraction, params.seed)?;
    if !both_classes(data, &train_idx) {
        return Err(PulseError::invalid("the training part of the split has one class only")
            .hint("Use a smaller test_fraction or params {\"split\": \"stratified\"}."));
    }
    let inputs = fit_inputs(data, &train_idx, params.max_categories)?;
    let mut model = Model {
        format: FORMAT,
        algorithm: params.algorithm,
        label: label.to_string(),
        threshold: params.threshold,
        inputs,
        linear: None,
        trees: None,
    };
    let (x, y) = matrix(&model, data, &train_idx)?;
    let fail = |e: smartcore::error::Failed| PulseError::invalid(format!("training failed: {e}"));
    match params.algorithm {
        Algorithm::LogisticRegression => {
            let fit = LogisticRegression::fit(&x, &y, LogisticRegressionParameters::default().with_alpha(params.alpha))
                .map_err(fail)?;
            let (w, b) = (fit.coefficients(), fit.intercept());
            let weights = (0..model.columns()).map(|j| *w.get((0, j))).collect();
            model.linear = Some(Linear { intercept: *b.get((0, 0)), weights });
        }
        Algorithm::DecisionTree => {
            let parameters = DecisionTreeClassifierParameters {
                criterion: SplitCriterion::Gini,
                max_depth: Some(params.max_depth),
                min_samples_leaf: params.min_samples_leaf,
                min_samples_split: params.min_samples_split,
                seed: Some(params.seed),
            };
            let fit = DecisionTreeClassifier::fit(&x, &y, parameters).map_err(fail)?;
            model.trees = Some(vec![tree_from_smartcore(&serde_json::to_value(&fit).map_err(internal)?)?]);
        }
        Algorithm::RandomForest => {
            let parameters = RandomForestClassifierParameters {
                criterion: SplitCriterion::Gini,
                max_depth: Some(params.max_depth),
                min_samples_leaf: params.min_samples_leaf,
                min_samples_split: params.min_samples_split,
                n_trees: params.n_trees,
                m: params.max_features.map(|m| m.min(model.columns())),
                keep_samples: false,
                seed: params.seed,
            };
            let fit = RandomForestClassifier::fit(&x, &y, parameters).map_err(fail)?;
            let j = serde_json::to_value(&fit).map_err(internal)?;
            let trees = j["trees"].as_array().ok_or_else(|| internal("random forest without trees"))?;
            model.trees = Some(trees.iter().map(tree_from_smartcore).collect::<Result<_>>()?);
        }
    }
    if let Some(trees) = model.trees.as_mut() {
        // Leaf values: the share of positive training rows reaching the leaf (smartcore's own
        // trees only keep the majority class, which makes a poor probability).
        let rows: Vec<Vec<f64>> = (0..train_idx.len()).map(|r| x.get_row(r).iterator(0).copied().collect()).collect();
        for t in trees.iter_mut() {
            leaf_values(t, &rows, &y);
        }
    }
    let metrics = (!test_idx.is_empty()).then(|| score_rows(&model, data, &test_idx)).transpose()?;
    Ok(Trained {
        params: params.to_json(split),
        model,
        metrics,
        train_rows: train_idx.len(),
        test_rows: test_idx.len(),
    })
}

/// Metrics of a stored model on labelled rows (`model_evaluate`), columns matched by name.
pub fn evaluate_model(model: &Model, data: &Dataset) -> Result<Metrics> {
    let idx: Vec<usize> = (0..data.labels.len()).collect();
    if idx.is_empty() {
        return Err(PulseError::invalid("the labelled query returned no rows"));
    }
    score_rows(model, data, &idx)
}

fn score_rows(model: &Model, data: &Dataset, rows: &[usize]) -> Result<Metrics> {
    let columns = input_columns(model, data)?;
    let mut values = Vec::with_capacity(columns.len());
    let mut z = Vec::with_capacity(model.columns());
    let mut scores = Vec::with_capacity(rows.len());
    for &r in rows {
        values.clear();
        values.extend(columns.iter().map(|c| c.value(r)));
        model.encode(&values, &mut z)?;
        scores.push(model.predict(&z));
    }
    let labels: Vec<bool> = rows.iter().map(|&r| data.labels[r]).collect();
    Ok(evaluate(&labels, &scores, model.threshold))
}

/// The dataset's column for each model input, in input order.
fn input_columns<'a>(model: &Model, data: &'a Dataset) -> Result<Vec<&'a Column>> {
    let missing: Vec<&str> =
        model.input_names().into_iter().filter(|n| !data.columns.iter().any(|c| c.name == *n)).collect();
    if !missing.is_empty() {
        return Err(PulseError::invalid(format!("missing features: {}", missing.join(", ")))
            .detail(format!("The model takes: {}.", model.input_names().join(", "))));
    }
    Ok(model.inputs.iter().map(|i| data.columns.iter().find(|c| c.name == i.name()).expect("checked")).collect())
}

fn check_finite(data: &Dataset) -> Result<()> {
    for c in &data.columns {
        if let ColumnData::Numeric(v) = &c.data {
            let bad = v.iter().flatten().filter(|x| !x.is_finite()).count();
            if bad > 0 {
                return Err(PulseError::invalid(format!("column \"{}\" has {bad} NaN or infinite values", c.name))
                    .hint("Filter them out or replace them (NULL is imputed with the training mean)."));
            }
        }
    }
    Ok(())
}

fn both_classes(data: &Dataset, idx: &[usize]) -> bool {
    let pos = idx.iter().filter(|&&i| data.labels[i]).count();
    pos > 0 && pos < idx.len()
}

/// (training rows, test rows), each in row order; `hashes` are the rows' content hashes.
fn split_rows(
    data: &Dataset,
    hashes: &[u64],
    split: Split,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let n = data.labels.len();
    let mut test = match split {
        Split::Time => {
            let times = data.times.as_ref().ok_or_else(|| {
                PulseError::invalid("a time split needs a time column")
                    .hint("Name it with params {\"time_column\": \"...\"} or use {\"split\": \"stratified\"}.")
            })?;
            let k = (n as f64 * test_fraction).round() as usize;
            if k == 0 {
                vec![]
            } else {
                // Cut at a time: rows stamped at the cut all go to the hold-out, so no moment is on
                // both sides.
                let mut sorted = times.clone();
                sorted.sort_unstable();
                let cut = sorted[n - k];
                (0..n).filter(|&i| times[i] >= cut).collect()
            }
        }
        Split::Stratified => {
            let mut test = vec![];
            for class in [false, true] {
                // A seeded hash of the row's content orders each class: deterministic whatever
                // order the rows came in, and no RNG state.
                let mut rows: Vec<usize> = (0..n).filter(|&i| data.labels[i] == class).collect();
                rows.sort_by_key(|&i| (xxhash_rust::xxh3::xxh3_64_with_seed(&hashes[i].to_le_bytes(), seed), i));
                let k = (rows.len() as f64 * test_fraction).round() as usize;
                test.extend_from_slice(&rows[..k]);
            }
            test
        }
    };
    test.sort_unstable();
    let mut is_test = vec![false; n];
    test.iter().for_each(|&i| is_test[i] = true);
    let train: Vec<usize> = (0..n).filter(|&i| !is_test[i]).collect();
    if train.is_empty() {
        return Err(PulseError::invalid("no training rows left after the split").hint("Use a smaller test_fraction."));
    }
    Ok((train, test))
}

/// Preprocessing from the training rows: mean and population standard deviation of numeric
/// columns (scale 1 when constant), the most frequent levels of text columns.
fn fit_inputs(data: &Dataset, train: &[usize], max_categories: usize) -> Result<Vec<Input>> {
    data.columns
        .iter()
        .map(|c| match &c.data {
            ColumnData::Numeric(v) => {
                let xs: Vec<f64> = train.iter().filter_map(|&i| v[i]).collect();
                let n = xs.len() as f64;
                let mean = if xs.is_empty() { 0.0 } else { xs.iter().sum::<f64>() / n };
                let var = if xs.is_empty() { 0.0 } else { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n };
                let scale = if var > 0.0 && var.is_finite() { var.sqrt() } else { 1.0 };
                Ok(Input::Numeric { name: c.name.clone(), mean, scale })
            }
            ColumnData::Categorical(v) => {
                let mut counts = std::collections::HashMap::<&str, usize>::new();
                train.iter().filter_map(|&i| v[i].as_deref()).for_each(|s| *counts.entry(s).or_default() += 1);
                if counts.len() > 50 && counts.len() * 2 > train.len() {
                    return Err(PulseError::invalid(format!(
                        "column \"{}\" looks like an identifier ({} distinct values in {} rows)",
                        c.name,
                        counts.len(),
                        train.len()
                    ))
                    .hint(format!(
                        "Leave it out of the query or list it in params {{\"exclude\": [\"{}\"]}}.",
                        c.name
                    )));
                }
                let mut levels: Vec<(&str, usize)> = counts.into_iter().collect();
                levels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
                levels.truncate(max_categories);
                let mut levels: Vec<String> = levels.into_iter().map(|(s, _)| s.to_string()).collect();
                levels.sort();
                Ok(Input::Categorical { name: c.name.clone(), levels })
            }
        })
        .collect()
}

fn matrix(model: &Model, data: &Dataset, rows: &[usize]) -> Result<(DenseMatrix<f64>, Vec<i32>)> {
    let columns = input_columns(model, data)?;
    let width = model.columns();
    let mut values = Vec::with_capacity(rows.len() * width);
    let (mut row, mut z) = (Vec::with_capacity(columns.len()), Vec::with_capacity(width));
    for &r in rows {
        row.clear();
        row.extend(columns.iter().map(|c| c.value(r)));
        model.encode(&row, &mut z)?;
        values.extend_from_slice(&z);
    }
    let x = DenseMatrix::new(rows.len(), width, values, false).map_err(|e| internal(e.to_string()))?;
    Ok((x, rows.iter().map(|&r| i32::from(data.labels[r])).collect()))
}

/// A tree from smartcore's serialised `DecisionTreeClassifier` (fields `nodes[].split_feature`,
/// `split_value`, `true_child`, `false_child`).
fn tree_from_smartcore(j: &Json) -> Result<Tree> {
    let nodes = j["nodes"].as_array().ok_or_else(|| internal("decision tree without nodes"))?;
    let mut t = Tree::default();
    for node in nodes {
        let child = |k: &str| node[k].as_i64().map_or(-1, |c| c as i32);
        t.feature.push(node["split_feature"].as_u64().unwrap_or(0) as u32);
        t.threshold.push(node["split_value"].as_f64().unwrap_or(0.0));
        t.left.push(child("true_child"));
        t.right.push(child("false_child"));
        t.value.push(node["output"].as_f64().unwrap_or(0.0));
    }
    Ok(t)
}

fn leaf_values(t: &mut Tree, rows: &[Vec<f64>], y: &[i32]) {
    let mut pos = vec![0usize; t.left.len()];
    let mut all = vec![0usize; t.left.len()];
    for (x, &label) in rows.iter().zip(y) {
        let mut n = 0usize;
        while t.left[n] >= 0 {
            n = if x[t.feature[n] as usize] <= t.threshold[n] { t.left[n] } else { t.right[n] } as usize;
        }
        all[n] += 1;
        pos[n] += label as usize;
    }
    for n in 0..t.left.len() {
        if t.left[n] < 0 && all[n] > 0 {
            t.value[n] = pos[n] as f64 / all[n] as f64;
        }
        // A leaf no training row reaches keeps smartcore's majority class (0 or 1).
    }
}

fn internal(e: impl std::fmt::Display) -> PulseError {
    PulseError::new(Kind::Internal, format!("internal error while training: {e}"))
}

#[cfg(test)]
mod tests;
