use super::*;
use smartcore::linalg::basic::arrays::Array2;

/// 600 rows: fraud is likelier with a high amount and on "burner" emails; time = row number.
fn data() -> Dataset {
    let n = 600;
    let mut amount = vec![];
    let mut email = vec![];
    let mut labels = vec![];
    for i in 0..n {
        let u = xxhash_rust::xxh3::xxh3_64_with_seed(&(i as u64).to_le_bytes(), 7) as f64 / u64::MAX as f64;
        let a = (i % 97) as f64 + u * 10.0;
        let burner = i % 7 == 0;
        amount.push(if i % 50 == 3 { None } else { Some(a) });
        email.push(Some(
            if burner {
                "burner.example"
            } else if i % 2 == 0 {
                "gmail.com"
            } else {
                "web.de"
            }
            .to_string(),
        ));
        labels.push((a > 80.0 && u > 0.3) || (burner && u > 0.6));
    }
    Dataset {
        columns: vec![
            Column { name: "amount".into(), data: ColumnData::Numeric(amount) },
            Column { name: "email".into(), data: ColumnData::Categorical(email) },
        ],
        labels,
        times: Some((0..n as i64).collect()),
    }
}

fn params(algorithm: Algorithm, j: Json) -> Params {
    Params::parse(algorithm, &j).unwrap()
}

#[test]
fn logistic_regression_matches_smartcore_predictions_and_is_deterministic() {
    let d = data();
    let p = params(Algorithm::LogisticRegression, json!({}));
    let a = train(&d, "fraud", &p, 0.2).unwrap();
    let b = train(&d, "fraud", &p, 0.2).unwrap();
    assert_eq!(a.model.to_json(), b.model.to_json(), "same data, same seed, same model");
    assert_eq!((a.train_rows, a.test_rows), (480, 120));
    let m = a.metrics.unwrap();
    assert!(m.roc_auc.unwrap() > 0.8, "{m:?}");
    // smartcore's own labels equal score >= 0.5 on every training row.
    let idx: Vec<usize> = (0..600).collect();
    let (x, y) = matrix(&a.model, &d, &idx).unwrap();
    let fit = LogisticRegression::fit(&x, &y, LogisticRegressionParameters::default().with_alpha(1.0)).unwrap();
    let labels = fit.predict(&x).unwrap();
    let mut z = vec![];
    let mut disagree = 0;
    for r in 0..600 {
        let row: Vec<Value> = d.columns.iter().map(|c| c.value(r)).collect();
        a.model.encode(&row, &mut z).unwrap();
        // Fit on all rows here, so compare with a model fitted on the same rows.
        let own = Model { linear: Some(linear_of(&fit, a.model.columns())), ..a.model.clone() };
        let p = own.predict(&z);
        if (p >= 0.5) != (labels[r] == 1) && (p - 0.5).abs() > 1e-9 {
            disagree += 1;
        }
        assert_eq!(x.get_row(r).iterator(0).copied().collect::<Vec<_>>(), z);
    }
    assert_eq!(disagree, 0);
}

fn linear_of(fit: &LogisticRegression<f64, i32, DenseMatrix<f64>, Vec<i32>>, columns: usize) -> Linear {
    Linear {
        intercept: *fit.intercept().get((0, 0)),
        weights: (0..columns).map(|j| *fit.coefficients().get((0, j))).collect(),
    }
}

#[test]
fn trees_and_forests_score_probabilities() {
    let d = data();
    for (alg, min_auc) in [(Algorithm::DecisionTree, 0.8), (Algorithm::RandomForest, 0.85)] {
        let j = if alg == Algorithm::RandomForest { json!({"n_trees": 20}) } else { json!({}) };
        let t = train(&d, "fraud", &params(alg, j.clone()), 0.25).unwrap();
        let m = t.metrics.unwrap();
        assert!(m.roc_auc.unwrap() > min_auc, "{alg:?}: {m:?}");
        let trees = t.model.trees.as_ref().unwrap();
        assert!(trees.iter().flat_map(|t| &t.value).all(|v| (0.0..=1.0).contains(v)));
        assert!(trees.iter().flat_map(|t| &t.value).any(|v| *v > 0.0 && *v < 1.0), "leaf shares, not just 0/1");
        let again = train(&d, "fraud", &params(alg, j), 0.25).unwrap();
        assert_eq!(again.model, t.model, "same seed, same trees");
        assert_eq!(Model::from_json(&t.model.to_json()).unwrap(), t.model);
    }
}

#[test]
fn preprocessing_is_learnt_from_training_rows_only() {
    let d = data();
    let t = train(&d, "fraud", &params(Algorithm::LogisticRegression, json!({})), 0.5).unwrap();
    let Input::Numeric { mean, .. } = &t.model.inputs[0] else { panic!() };
    let train_rows: Vec<f64> = match &d.columns[0].data {
        ColumnData::Numeric(v) => v[..300].iter().flatten().copied().collect(),
        _ => unreachable!(),
    };
    assert!((mean - train_rows.iter().sum::<f64>() / train_rows.len() as f64).abs() < 1e-12);
    let Input::Categorical { levels, .. } = &t.model.inputs[1] else { panic!() };
    assert_eq!(levels, &["burner.example", "gmail.com", "web.de"]);
}

#[test]
fn splits() {
    let d = data();
    let h = d.row_hashes();
    let (train_rows, test) = split_rows(&d, &h, Split::Time, 0.1, 1).unwrap();
    assert_eq!(test, (540..600).collect::<Vec<_>>(), "the latest rows are held out");
    assert_eq!(train_rows.len(), 540);
    let (_, test) = split_rows(&d, &h, Split::Stratified, 0.2, 1).unwrap();
    let pos = d.labels.iter().filter(|&&l| l).count();
    let test_pos = test.iter().filter(|&&i| d.labels[i]).count();
    assert_eq!(test_pos, (pos as f64 * 0.2).round() as usize);
    assert_ne!(split_rows(&d, &h, Split::Stratified, 0.2, 2).unwrap().1, test, "the seed changes the split");
    // Ties at the cut all go to the hold-out.
    let mut tied = d.clone();
    tied.times = Some((0..600).map(|i| i / 100).collect());
    let (train_rows, test) = split_rows(&tied, &h, Split::Time, 0.1, 1).unwrap();
    assert_eq!((train_rows.len(), test.len()), (500, 100));
}

#[test]
fn row_order_changes_nothing() {
    let d = data();
    let mut shuffled = d.clone();
    let order: Vec<usize> = (0..600).rev().collect();
    shuffled.columns = d
        .columns
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            data: match &c.data {
                ColumnData::Numeric(v) => ColumnData::Numeric(order.iter().map(|&i| v[i]).collect()),
                ColumnData::Categorical(v) => ColumnData::Categorical(order.iter().map(|&i| v[i].clone()).collect()),
            },
        })
        .collect();
    shuffled.labels = order.iter().map(|&i| d.labels[i]).collect();
    shuffled.times = d.times.as_ref().map(|t| order.iter().map(|&i| t[i]).collect());
    assert_eq!(shuffled.fingerprint(), d.fingerprint());
    for (alg, split) in [(Algorithm::LogisticRegression, "time"), (Algorithm::RandomForest, "stratified")] {
        let p = params(alg, json!({"split": split}));
        let a = train(&d, "fraud", &p, 0.2).unwrap();
        let b = train(&shuffled, "fraud", &p, 0.2).unwrap();
        assert_eq!(a.model, b.model, "{alg:?} {split}");
        assert_eq!(a.metrics, b.metrics);
    }
}

#[test]
fn bad_training_data_gets_clear_errors() {
    let p = params(Algorithm::LogisticRegression, json!({}));
    let empty = Dataset {
        columns: data()
            .columns
            .into_iter()
            .map(|mut c| {
                c.data = ColumnData::Numeric(vec![]);
                c
            })
            .collect(),
        labels: vec![],
        times: None,
    };
    assert!(train(&empty, "fraud", &p, 0.2).unwrap_err().message.contains("no rows"));
    let mut one = data();
    one.labels.iter_mut().for_each(|l| *l = false);
    assert!(train(&one, "fraud", &p, 0.2).unwrap_err().message.contains("one class only (0 of 600"));
    let mut nan = data();
    if let ColumnData::Numeric(v) = &mut nan.columns[0].data {
        v[5] = Some(f64::NAN);
    }
    assert!(train(&nan, "fraud", &p, 0.2).unwrap_err().message.contains("\"amount\" has 1 NaN"));
    let mut ids = data();
    ids.columns[1].data = ColumnData::Categorical((0..600).map(|i| Some(format!("o{i}"))).collect());
    let e = train(&ids, "fraud", &p, 0.2).unwrap_err();
    assert!(e.message.contains("looks like an identifier"), "{}", e.message);
    let e = Params::parse(Algorithm::LogisticRegression, &json!({"max_depth": 3})).unwrap_err();
    assert!(e.message.contains("unknown parameter \"max_depth\" for logistic_regression"), "{}", e.message);
    assert!(e.hint.unwrap().contains("alpha"));
    assert!(Params::parse(Algorithm::RandomForest, &json!({"n_trees": 0})).is_err());
    assert!(Params::parse(Algorithm::RandomForest, &json!({"split": "random"})).is_err());
    assert!(train(&data(), "fraud", &p, 1.0).unwrap_err().message.contains("test_fraction"));
}

#[test]
fn evaluating_needs_every_input() {
    let d = data();
    let t = train(&d, "fraud", &params(Algorithm::LogisticRegression, json!({})), 0.2).unwrap();
    let m = evaluate_model(&t.model, &d).unwrap();
    assert_eq!(m.rows, 600);
    let mut fewer = d.clone();
    fewer.columns.pop();
    let e = evaluate_model(&t.model, &fewer).unwrap_err();
    assert_eq!(e.message, "missing features: email");
    assert_ne!(d.fingerprint(), fewer.fingerprint());
}
