//! A trained model in the form Pulse stores, exports and scores: its inputs with the
//! preprocessing learnt from the training rows, and either a linear function (logistic
//! regression) or trees. Training (smartcore) lives in `core/train.rs`; this file is what a
//! backend needs to score, and it is the same arithmetic as the Python reference in
//! `tests/models/pulse_model.py`.
use serde::{Deserialize, Serialize};

use crate::error::{PulseError, Result};

pub mod metrics;
pub mod train;

/// Version of the exported format (`model_export`); bumped on any change in its meaning.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    LogisticRegression,
    DecisionTree,
    RandomForest,
}

impl Algorithm {
    pub const NAMES: &'static str = "logistic_regression, decision_tree, random_forest";

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "logistic_regression" => Ok(Self::LogisticRegression),
            "decision_tree" => Ok(Self::DecisionTree),
            "random_forest" => Ok(Self::RandomForest),
            _ => {
                Err(PulseError::invalid(format!("unknown algorithm \"{s}\""))
                    .hint(format!("Use one of: {}.", Self::NAMES)))
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::LogisticRegression => "logistic_regression",
            Self::DecisionTree => "decision_tree",
            Self::RandomForest => "random_forest",
        }
    }
}

/// One input of a model and how it becomes encoded columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// One column `(x - mean) / scale`; NULL becomes 0 (the training mean). Booleans are 1/0.
    Numeric { name: String, mean: f64, scale: f64 },
    /// One 0/1 column per level seen in training (the most frequent `max_categories`); NULL and
    /// values not among the levels encode as all zeros.
    Categorical { name: String, levels: Vec<String> },
}

impl Input {
    pub fn name(&self) -> &str {
        match self {
            Input::Numeric { name, .. } | Input::Categorical { name, .. } => name,
        }
    }

    fn width(&self) -> usize {
        match self {
            Input::Numeric { .. } => 1,
            Input::Categorical { levels, .. } => levels.len(),
        }
    }
}

/// A value of one input as given to `score`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub intercept: f64,
    pub weights: Vec<f64>,
}

/// A binary tree as parallel arrays; a node is a leaf when `left` is -1, and `value` is the share
/// of positive training rows that reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Tree {
    pub feature: Vec<u32>,
    pub threshold: Vec<f64>,
    pub left: Vec<i32>,
    pub right: Vec<i32>,
    pub value: Vec<f64>,
}

impl Tree {
    fn predict(&self, z: &[f64]) -> f64 {
        let mut n = 0usize;
        while self.left[n] >= 0 {
            // Same test as smartcore's trees: `<=` goes left (its "true child").
            n = if z[self.feature[n] as usize] <= self.threshold[n] { self.left[n] } else { self.right[n] } as usize;
        }
        self.value[n]
    }

    /// Checks the arrays are consistent, so scoring cannot index out of bounds or loop.
    fn validate(&self, columns: usize) -> Result<()> {
        let n = self.left.len();
        let same = [self.feature.len(), self.threshold.len(), self.right.len(), self.value.len()];
        let bad = || PulseError::new(crate::error::Kind::InvalidText, "malformed tree in stored model");
        if n == 0 || same.iter().any(|&l| l != n) {
            return Err(bad());
        }
        for i in 0..n {
            let (l, r) = (self.left[i], self.right[i]);
            if l >= 0 {
                // Children come after their parent, which rules out cycles.
                let ok = (l as usize) > i && (l as usize) < n && (r as usize) > i && (r as usize) < n && r >= 0;
                if !ok || self.feature[i] as usize >= columns {
                    return Err(bad());
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: u32,
    pub algorithm: Algorithm,
    pub label: String,
    /// Scores at or above it are predicted positive (precision, recall and F1 use it).
    pub threshold: f64,
    pub inputs: Vec<Input>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<Linear>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<Vec<Tree>>,
}

impl Model {
    pub fn from_json(text: &str) -> Result<Self> {
        let model: Model = serde_json::from_str(text).map_err(|e| {
            PulseError::new(crate::error::Kind::InvalidText, format!("stored model does not parse: {e}"))
        })?;
        if model.format != FORMAT {
            return Err(PulseError::new(
                crate::error::Kind::InvalidText,
                format!("stored model has format {}, this pulse reads format {FORMAT}", model.format),
            ));
        }
        let columns = model.columns();
        match (&model.linear, &model.trees) {
            (Some(l), None) if l.weights.len() == columns => {}
            (None, Some(trees)) if !trees.is_empty() => trees.iter().try_for_each(|t| t.validate(columns))?,
            _ => return Err(PulseError::new(crate::error::Kind::InvalidText, "stored model has no usable body")),
        }
        Ok(model)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a model always serialises")
    }

    /// Number of encoded columns.
    pub fn columns(&self) -> usize {
        self.inputs.iter().map(Input::width).sum()
    }

    pub fn has_categorical(&self) -> bool {
        self.inputs.iter().any(|i| matches!(i, Input::Categorical { .. }))
    }

    /// Encodes one row of input values (in the order of `inputs`) into `z`.
    pub fn encode(&self, values: &[Value], z: &mut Vec<f64>) -> Result<()> {
        z.clear();
        for (input, value) in self.inputs.iter().zip(values) {
            match (input, value) {
                (Input::Numeric { .. }, Value::Null) => z.push(0.0),
                (Input::Numeric { name, mean, scale }, Value::Number(x)) => {
                    if !x.is_finite() {
                        return Err(PulseError::invalid(format!("feature \"{name}\" is {x}"))
                            .hint("Model inputs must be finite numbers or NULL."));
                    }
                    z.push((x - mean) / scale)
                }
                (Input::Categorical { levels, .. }, Value::Null) => z.extend(std::iter::repeat_n(0.0, levels.len())),
                (Input::Categorical { levels, .. }, Value::Text(s)) => {
                    z.extend(levels.iter().map(|level| if level == s { 1.0 } else { 0.0 }))
                }
                (Input::Numeric { name, .. }, Value::Text(_)) => {
                    return Err(PulseError::invalid(format!("feature \"{name}\" must be a number, not text")))
                }
                (Input::Categorical { name, .. }, Value::Number(_)) => {
                    return Err(PulseError::invalid(format!("feature \"{name}\" must be text, not a number")))
                }
            }
        }
        Ok(())
    }

    /// The probability of the positive class for an encoded row.
    pub fn predict(&self, z: &[f64]) -> f64 {
        if let Some(linear) = &self.linear {
            let mut t = linear.intercept;
            for (w, x) in linear.weights.iter().zip(z) {
                t += w * x;
            }
            sigmoid(t)
        } else {
            let trees = self.trees.as_deref().unwrap_or_default();
            trees.iter().map(|t| t.predict(z)).sum::<f64>() / trees.len() as f64
        }
    }

    /// The `float8[]` form of `score` takes every input as a number, in the order of `inputs`.
    pub fn check_numbers(&self, given: usize) -> Result<()> {
        if self.has_categorical() {
            return Err(PulseError::invalid("this model has text inputs; pass its features as jsonb")
                .detail(format!("Inputs: {}.", self.input_names().join(", "))));
        }
        if given != self.inputs.len() {
            return Err(PulseError::invalid(format!("the model takes {} features, got {given}", self.inputs.len()))
                .detail(format!("Inputs, in order: {}.", self.input_names().join(", "))));
        }
        Ok(())
    }

    /// Scores numeric inputs given in the order of `inputs` (the `float8[]` form of `score`).
    pub fn score_numbers(&self, x: &[Option<f64>], z: &mut Vec<f64>) -> Result<f64> {
        self.check_numbers(x.len())?;
        let values: Vec<Value> = x.iter().map(|v| v.map_or(Value::Null, Value::Number)).collect();
        self.encode(&values, z)?;
        Ok(self.predict(z))
    }

    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(Input::name).collect()
    }

    /// How much each input moves the score, largest first: for logistic regression the input's
    /// share of the log-odds (its weights times its encoded columns); for trees the change in
    /// probability when the input is replaced by its training-mean encoding (zeros), a
    /// model-agnostic ablation that needs no training data at scoring time.
    pub fn contributions(&self, z: &[f64]) -> Vec<(String, f64)> {
        let mut out = Vec::with_capacity(self.inputs.len());
        let mut start = 0;
        let full = self.predict(z);
        let mut ablated = z.to_vec();
        for input in &self.inputs {
            let end = start + input.width();
            let c = match &self.linear {
                Some(l) => l.weights[start..end].iter().zip(&z[start..end]).map(|(w, x)| w * x).sum(),
                None => {
                    ablated[start..end].iter_mut().for_each(|v| *v = 0.0);
                    let without = self.predict(&ablated);
                    ablated[start..end].copy_from_slice(&z[start..end]);
                    full - without
                }
            };
            out.push((input.name().to_string(), c));
            start = end;
        }
        out.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

pub fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model {
            format: FORMAT,
            algorithm: Algorithm::LogisticRegression,
            label: "fraud".into(),
            threshold: 0.5,
            inputs: vec![
                Input::Numeric { name: "amount".into(), mean: 10.0, scale: 2.0 },
                Input::Categorical { name: "device".into(), levels: vec!["desktop".into(), "mobile".into()] },
            ],
            linear: Some(Linear { intercept: -1.0, weights: vec![0.5, 2.0, -3.0] }),
            trees: None,
        }
    }

    #[test]
    fn logistic_score_by_hand() {
        let m = model();
        let mut z = vec![];
        m.encode(&[Value::Number(14.0), Value::Text("mobile".into())], &mut z).unwrap();
        assert_eq!(z, vec![2.0, 0.0, 1.0]);
        // t = -1 + 0.5 * 2 - 3 = -3
        assert!((m.predict(&z) - 1.0 / (1.0 + 3f64.exp())).abs() < 1e-15);
        m.encode(&[Value::Null, Value::Text("tablet".into())], &mut z).unwrap();
        assert_eq!(z, vec![0.0, 0.0, 0.0], "NULL is the mean; an unseen level is all zeros");
    }

    #[test]
    fn mistyped_and_non_finite_inputs_are_refused() {
        let m = model();
        let mut z = vec![];
        let e = m.encode(&[Value::Text("x".into()), Value::Null], &mut z).unwrap_err();
        assert!(e.message.contains("\"amount\" must be a number"), "{}", e.message);
        let e = m.encode(&[Value::Number(f64::NAN), Value::Null], &mut z).unwrap_err();
        assert!(e.message.contains("NaN"), "{}", e.message);
        let e = m.encode(&[Value::Null, Value::Number(1.0)], &mut z).unwrap_err();
        assert!(e.message.contains("\"device\" must be text"), "{}", e.message);
        assert!(m.score_numbers(&[Some(1.0), None], &mut z).unwrap_err().message.contains("text inputs"));
    }

    #[test]
    fn tree_walk_and_forest_mean() {
        // x0 <= 0 → leaf 0.25, else x1 <= 1 → 0.5 else 1.0
        let t = Tree {
            feature: vec![0, 0, 1, 0, 0],
            threshold: vec![0.0, 0.0, 1.0, 0.0, 0.0],
            left: vec![1, -1, 3, -1, -1],
            right: vec![2, -1, 4, -1, -1],
            value: vec![0.0, 0.25, 0.0, 0.5, 1.0],
        };
        let mut m = model();
        m.inputs = vec![
            Input::Numeric { name: "a".into(), mean: 0.0, scale: 1.0 },
            Input::Numeric { name: "b".into(), mean: 0.0, scale: 1.0 },
        ];
        m.linear = None;
        m.algorithm = Algorithm::RandomForest;
        m.trees = Some(vec![t.clone(), Tree { value: vec![0.0, 0.75, 0.0, 0.5, 0.0], ..t }]);
        let mut z = vec![];
        assert_eq!(m.score_numbers(&[Some(0.0), Some(5.0)], &mut z).unwrap(), 0.5);
        assert_eq!(m.score_numbers(&[Some(0.1), Some(1.0)], &mut z).unwrap(), 0.5);
        assert_eq!(m.score_numbers(&[Some(0.1), Some(1.1)], &mut z).unwrap(), 0.5);
        let back = Model::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
        let e = m.score_numbers(&[Some(0.0)], &mut z).unwrap_err();
        assert!(e.message.contains("takes 2 features, got 1"), "{}", e.message);
    }

    #[test]
    fn malformed_stored_trees_are_refused() {
        let mut m = model();
        m.linear = None;
        m.trees = Some(vec![Tree {
            feature: vec![0],
            threshold: vec![0.0],
            left: vec![0],
            right: vec![0],
            value: vec![0.0],
        }]);
        assert!(Model::from_json(&m.to_json()).is_err(), "a node pointing at itself would loop");
    }

    #[test]
    fn contributions_of_a_linear_model_sum_to_the_log_odds() {
        let m = model();
        let mut z = vec![];
        m.encode(&[Value::Number(14.0), Value::Text("mobile".into())], &mut z).unwrap();
        let c = m.contributions(&z);
        assert_eq!(c[0], ("device".to_string(), -3.0));
        assert_eq!(c[1], ("amount".to_string(), 1.0));
    }
}
