//! The example suite: recorded tests against real model servers, in `tests/`.
//! This library holds the small helpers they share.

/// Cosine similarity of two vectors.
///
/// ```
/// assert!((examples::cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-9);
/// ```
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// The index of the document closest to a query embedding.
pub fn nearest(query: &[f64], docs: &[Vec<f64>]) -> usize {
    let mut best = (0, f64::MIN);
    for (i, d) in docs.iter().enumerate() {
        let s = cosine(query, d);
        if s > best.1 {
            best = (i, s);
        }
    }
    best.0
}
