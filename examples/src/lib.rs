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

/// A PNG of `width` x `height` pixels, all of one RGB colour: a small real image for
/// vision tests, made in the test (so its bytes, and its recording's name, never
/// change). 8-bit RGB, uncompressed (stored) deflate blocks, correct CRCs.
///
/// ```
/// let png = examples::solid_png(4, 2, [255, 0, 0]);
/// assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
/// assert_eq!(&png[12..16], b"IHDR");
/// assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 4);
/// assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82])); // IEND's CRC
/// ```
pub fn solid_png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    // The image data: each row is a filter byte (0, none) and its pixels.
    let row: Vec<u8> = std::iter::once(0)
        .chain(rgb.iter().copied().cycle().take(3 * width as usize))
        .collect();
    let raw = row.repeat(height as usize);
    // zlib around stored deflate blocks (at most 65535 bytes each).
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter set, no interlace
    chunk(b"IHDR", &header);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    png
}

/// CRC-32 as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A safety classifier's verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to flag.
    Safe,
    /// Flagged, under these categories (`S1`, `S10`, ...; at least one).
    Unsafe(Vec<String>),
}

impl Verdict {
    /// Reads a verdict in either of the two forms classifiers answer in: JSON
    /// (`{"verdict": "safe", "category": "none"}` or `{"verdict": "unsafe", "category":
    /// "S1"}`, what a chat model is asked for in `examples/tests/kinds.rs`), or Llama
    /// Guard's text (`safe`, or `unsafe` and a line of categories). Anything else, or a
    /// verdict that contradicts itself (safe with a category, unsafe without one), is an
    /// error saying what was wrong.
    ///
    /// ```
    /// use examples::Verdict;
    /// assert_eq!(Verdict::parse(r#"{"verdict": "safe", "category": "none"}"#), Ok(Verdict::Safe));
    /// assert_eq!(Verdict::parse(r#"{ "verdict": "unsafe", "category": "S1"}"#), Ok(Verdict::Unsafe(vec!["S1".into()])));
    /// assert_eq!(Verdict::parse("unsafe\nS1,S10"), Ok(Verdict::Unsafe(vec!["S1".into(), "S10".into()])));
    /// assert_eq!(Verdict::parse("\n\nsafe"), Ok(Verdict::Safe));
    /// assert!(Verdict::parse(r#"{"verdict": "safe", "category": "S2"}"#).is_err());
    /// assert!(Verdict::parse(r#"{"verdict": "unsafe", "category": "none"}"#).is_err());
    /// assert!(Verdict::parse("unsafe").is_err());
    /// assert!(Verdict::parse("I think it is fine").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Verdict, String> {
        let text = text.trim();
        let (verdict, categories): (String, Vec<String>) =
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
                let field = |name: &str| {
                    json.get(name)
                        .and_then(|v| v.as_str())
                        .map(str::trim)
                        .ok_or_else(|| format!("no string `{name}` in {text}"))
                };
                let category = field("category")?;
                let categories = match category {
                    "" | "none" => Vec::new(),
                    c => c.split(',').map(|c| c.trim().to_string()).collect(),
                };
                (field("verdict")?.to_lowercase(), categories)
            } else {
                let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
                let verdict = lines.next().unwrap_or("").to_lowercase();
                let categories = lines
                    .next()
                    .map(|l| l.split(',').map(|c| c.trim().to_string()).collect())
                    .unwrap_or_default();
                (verdict, categories)
            };
        let well_formed = |c: &String| {
            c.len() >= 2 && c.starts_with('S') && c[1..].chars().all(|d| d.is_ascii_digit())
        };
        match verdict.as_str() {
            "safe" if categories.is_empty() => Ok(Verdict::Safe),
            "safe" => Err(format!("safe, yet with categories {categories:?}: {text}")),
            "unsafe" if categories.is_empty() => Err(format!("unsafe without a category: {text}")),
            "unsafe" if categories.iter().all(well_formed) => Ok(Verdict::Unsafe(categories)),
            "unsafe" => Err(format!("categories are not S<number>: {categories:?}")),
            _ => Err(format!("neither safe nor unsafe: {text}")),
        }
    }
}
