//! Hold-out metrics of a binary classifier, with scikit-learn's definitions (checked against it
//! in tests/models/test_metrics.py): ROC AUC (smartcore's, midranks for ties), average precision
//! as PR AUC, log loss with probabilities clipped to [eps, 1 - eps] (f64 machine epsilon, as
//! scikit-learn 1.9 does), and precision, recall,
//! F1 and the confusion matrix at a threshold (score >= threshold is positive).
//! smartcore has no average precision or log loss, so those two are written here.
use serde::Serialize;
use smartcore::metrics::roc_auc_score;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub rows: usize,
    pub positives: usize,
    /// NULL (None) when the rows have one class only: AUCs are undefined then.
    pub roc_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub log_loss: f64,
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub confusion: Confusion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
}

const EPS: f64 = f64::EPSILON;

/// Metrics of `scores` against `labels`; both the same non-zero length.
pub fn evaluate(labels: &[bool], scores: &[f64], threshold: f64) -> Metrics {
    assert_eq!(labels.len(), scores.len());
    let positives = labels.iter().filter(|&&l| l).count();
    let both = positives > 0 && positives < labels.len();
    let mut c = Confusion::default();
    let mut loss = 0.0;
    for (&l, &s) in labels.iter().zip(scores) {
        match (l, s >= threshold) {
            (true, true) => c.tp += 1,
            (true, false) => c.fn_ += 1,
            (false, true) => c.fp += 1,
            (false, false) => c.tn += 1,
        }
        let p = s.clamp(EPS, 1.0 - EPS);
        loss -= if l { p.ln() } else { (1.0 - p).ln() };
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(c.tp, c.tp + c.fp);
    let recall = ratio(c.tp, c.tp + c.fn_);
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    let roc_auc = both.then(|| {
        let y: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
        roc_auc_score(&y, &scores.to_vec())
    });
    Metrics {
        rows: labels.len(),
        positives,
        roc_auc,
        pr_auc: both.then(|| average_precision(labels, scores)),
        log_loss: loss / labels.len() as f64,
        threshold,
        precision,
        recall,
        f1,
        confusion: c,
    }
}

/// Σ (R_k − R_{k−1}) · P_k over the distinct scores from highest to lowest, where P_k and R_k are
/// the precision and recall of "score >= k-th distinct score" (sklearn's average_precision_score:
/// a step function, no interpolation).
fn average_precision(labels: &[bool], scores: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let (mut tp, mut fp, mut ap, mut last_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        // Rows with the same score share one threshold.
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if labels[order[i]] {
                tp += 1.0
            } else {
                fp += 1.0
            }
            i += 1;
        }
        let recall = tp / positives;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
    }
    ap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // scores: 0.9 (+), 0.8 (-), 0.7 (+), 0.7 (-), 0.1 (-)
        let labels = [true, false, true, false, false];
        let scores = [0.9, 0.8, 0.7, 0.7, 0.1];
        let m = evaluate(&labels, &scores, 0.75);
        // AUC: pairs (pos, neg) = 2 × 3 = 6; 0.9 beats all 3; 0.7 beats 0.1, ties 0.7 → 1.5.
        assert!((m.roc_auc.unwrap() - 4.5 / 6.0).abs() < 1e-12);
        // AP: at 0.9 P=1 R=.5; at 0.8 R stays; at 0.7 P=2/4 R=1 → .5·1 + .5·.5 = .75
        assert!((m.pr_auc.unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(m.confusion, Confusion { tp: 1, fp: 1, tn: 2, fn_: 1 });
        assert_eq!((m.precision, m.recall, m.f1), (0.5, 0.5, 0.5));
        let ll = -(0.9f64.ln() + 0.2f64.ln() + 0.7f64.ln() + 0.3f64.ln() + 0.9f64.ln()) / 5.0;
        assert!((m.log_loss - ll).abs() < 1e-12);
    }

    #[test]
    fn one_class_has_no_auc_and_hard_zero_one_scores_stay_finite() {
        let m = evaluate(&[false, false], &[0.0, 1.0], 0.5);
        assert_eq!((m.roc_auc, m.pr_auc), (None, None));
        assert!(m.log_loss.is_finite() && m.log_loss > 10.0);
    }
}
