//! Images in chat messages (OpenAI's `image_url` content parts), as a vision model's
//! server receives them: `data:` URIs are decoded and checked (the format must be
//! PNG, JPEG, GIF or WebP and the bytes must be one), and the fake "sees" what it can
//! work out without a model: the format, the size, and for an 8-bit PNG the colour
//! its pixels average to. An image by `http(s)` URL is taken as is (the fake fetches
//! nothing). A broken image is refused with OpenAI's 400.

use base64::Engine as _;
use serde_json::Value;
use std::io::Read;

/// What the fake makes of one image part.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Seen {
    /// `PNG`, `JPEG`, `GIF`, `WebP`, or `image` for a URL.
    pub format: &'static str,
    /// Width and height, when the header says.
    pub size: Option<(u32, u32)>,
    /// The name of the colour the pixels average to (8-bit PNGs).
    pub colour: Option<&'static str>,
}

impl Seen {
    /// `a 16x8 PNG, mostly red`, `a JPEG`, `an image by URL`.
    pub fn describe(&self) -> String {
        let mut out = match (self.format, self.size) {
            ("image", _) => "an image by URL".to_string(),
            (format, Some((w, h))) => format!("a {w}x{h} {format}"),
            (format, None) => format!("a {format}"),
        };
        if let Some(colour) = self.colour {
            out.push_str(", mostly ");
            out.push_str(colour);
        }
        out
    }
}

/// Why an image part was refused: OpenAI's message and code.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Refused {
    pub message: String,
    pub code: &'static str,
}

/// Every image part of the request's messages, in order: what the fake sees, or why
/// it refuses the first bad one.
pub(super) fn images(body: &Value) -> Result<Vec<Seen>, Refused> {
    let mut seen = Vec::new();
    let messages = body.get("messages").and_then(Value::as_array);
    for message in messages.into_iter().flatten() {
        let Some(parts) = message.get("content").and_then(Value::as_array) else {
            continue;
        };
        for part in parts {
            if part.get("type").and_then(Value::as_str) != Some("image_url") {
                continue;
            }
            let url = part
                .get("image_url")
                .and_then(|i| i.get("url").or(Some(i)))
                .and_then(Value::as_str)
                .unwrap_or("");
            seen.push(see(url)?);
        }
    }
    Ok(seen)
}

fn see(url: &str) -> Result<Seen, Refused> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(Seen {
            format: "image",
            size: None,
            colour: None,
        });
    }
    let unsupported = || {
        Refused {
        message: "You uploaded an unsupported image. Please make sure your image has one of the following formats: ['png', 'jpeg', 'gif', 'webp'].".into(),
        code: "invalid_image_format",
    }
    };
    let parse_error = || Refused {
        message: "You uploaded an unsupported image. Please make sure your image is valid.".into(),
        code: "image_parse_error",
    };
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(Refused {
            message: format!(
                "Invalid image URL: expected a URL or a base64 data URI, got '{}'.",
                url.chars().take(40).collect::<String>()
            ),
            code: "invalid_image_url",
        });
    };
    let Some((mime, data)) = rest.split_once(";base64,") else {
        return Err(parse_error());
    };
    let format = match mime {
        "image/png" => "PNG",
        "image/jpeg" | "image/jpg" => "JPEG",
        "image/gif" => "GIF",
        "image/webp" => "WebP",
        _ => return Err(unsupported()),
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| parse_error())?;
    let signature_ok = match format {
        "PNG" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "JPEG" => bytes.starts_with(&[0xff, 0xd8, 0xff]),
        "GIF" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        _ => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
    };
    if !signature_ok {
        return Err(parse_error());
    }
    match format {
        "PNG" => {
            let png = decode_png(&bytes).ok_or_else(parse_error)?;
            Ok(Seen {
                format,
                size: Some((png.width, png.height)),
                colour: png.mean.map(colour_name),
            })
        }
        "GIF" if bytes.len() >= 10 => Ok(Seen {
            format,
            size: Some((
                u32::from(u16::from_le_bytes([bytes[6], bytes[7]])),
                u32::from(u16::from_le_bytes([bytes[8], bytes[9]])),
            )),
            colour: None,
        }),
        _ => Ok(Seen {
            format,
            size: None,
            colour: None,
        }),
    }
}

/// A decoded PNG: its size and, for 8-bit non-interlaced images, the mean colour.
struct Png {
    width: u32,
    height: u32,
    mean: Option<[f64; 3]>,
}

/// Reads a PNG: chunks (with their CRCs checked), then, for 8-bit grey, grey+alpha,
/// RGB and RGBA without interlacing, the pixels (every filter type). `None` when the
/// file is broken.
fn decode_png(bytes: &[u8]) -> Option<Png> {
    let mut pos = 8;
    let (mut header, mut idat) = (None, Vec::new());
    while pos + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().ok()?) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = bytes.get(pos + 8..pos + 8 + len)?;
        let crc = u32::from_be_bytes(bytes.get(pos + 8 + len..pos + 12 + len)?.try_into().ok()?);
        if crc32(&bytes[pos + 4..pos + 8 + len]) != crc {
            return None;
        }
        match kind {
            b"IHDR" if data.len() == 13 => header = Some(data.to_vec()),
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    let header = header?;
    let width = u32::from_be_bytes(header[0..4].try_into().ok()?);
    let height = u32::from_be_bytes(header[4..8].try_into().ok()?);
    let (depth, colour_type, interlace) = (header[8], header[9], header[12]);
    if width == 0 || height == 0 {
        return None;
    }
    let channels = match colour_type {
        0 => 1,
        4 => 2,
        2 => 3,
        6 => 4,
        _ => 0,
    };
    if depth != 8 || channels == 0 || interlace != 0 || width > 4096 || height > 4096 {
        return Some(Png {
            width,
            height,
            mean: None,
        });
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .ok()?;
    let stride = width as usize * channels;
    if raw.len() < (stride + 1) * height as usize {
        return None;
    }
    let (mut prev, mut line) = (vec![0u8; stride], vec![0u8; stride]);
    let mut sum = [0f64; 3];
    for row in raw.chunks(stride + 1).take(height as usize) {
        let (filter, data) = (row[0], &row[1..]);
        for i in 0..stride {
            let a = if i >= channels { line[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                _ => return None,
            };
            line[i] = data[i].wrapping_add(predicted);
        }
        for pixel in line.chunks(channels) {
            let rgb = if channels < 3 {
                [pixel[0]; 3]
            } else {
                [pixel[0], pixel[1], pixel[2]]
            };
            for (s, v) in sum.iter_mut().zip(rgb) {
                *s += f64::from(v);
            }
        }
        std::mem::swap(&mut prev, &mut line);
    }
    let n = f64::from(width) * f64::from(height);
    Some(Png {
        width,
        height,
        mean: Some(sum.map(|s| s / n)),
    })
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// The nearest of a few colour names to an RGB mean.
fn colour_name(rgb: [f64; 3]) -> &'static str {
    const NAMES: [(&str, [f64; 3]); 9] = [
        ("black", [0.0, 0.0, 0.0]),
        ("white", [255.0, 255.0, 255.0]),
        ("grey", [128.0, 128.0, 128.0]),
        ("red", [255.0, 0.0, 0.0]),
        ("green", [0.0, 255.0, 0.0]),
        ("blue", [0.0, 0.0, 255.0]),
        ("yellow", [255.0, 255.0, 0.0]),
        ("cyan", [0.0, 255.0, 255.0]),
        ("magenta", [255.0, 0.0, 255.0]),
    ];
    let distance = |c: &[f64; 3]| c.iter().zip(rgb).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    NAMES
        .iter()
        .min_by(|x, y| distance(&x.1).total_cmp(&distance(&y.1)))
        .map(|(name, _)| *name)
        .unwrap_or("grey")
}

/// CRC-32 (ISO-HDLC, as PNG uses), bit by bit: images here are small.
pub(super) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    /// A PNG of one colour, written with filter type `filter` on every row.
    fn png(width: u32, height: u32, rgba: [u8; 4], filter: u8) -> Vec<u8> {
        let mut raw = Vec::new();
        for _ in 0..height {
            raw.push(filter);
            for x in 0..width as usize {
                // Filter 1 (Sub): each byte minus the one a pixel to the left.
                for v in rgba {
                    raw.push(if filter == 1 && x > 0 { 0 } else { v });
                }
            }
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&raw).unwrap();
        let idat = z.finish().unwrap();
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
        };
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        chunk(b"IDAT", &idat);
        chunk(b"IEND", &[]);
        out
    }

    fn data_uri(mime: &str, bytes: &[u8]) -> String {
        format!(
            "data:{mime};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    fn body_with(url: &str) -> Value {
        json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}]})
    }

    #[test]
    fn crc_matches_the_png_spec() {
        // The CRC of an empty IEND chunk, as every PNG ends.
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
    }

    #[test]
    fn sees_size_and_colour_of_a_png() {
        for filter in [0, 1] {
            let seen = images(&body_with(&data_uri(
                "image/png",
                &png(5, 3, [250, 10, 5, 255], filter),
            )))
            .unwrap();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].describe(), "a 5x3 PNG, mostly red");
        }
        let blue = images(&body_with(&data_uri(
            "image/png",
            &png(2, 2, [0, 0, 200, 255], 0),
        )))
        .unwrap();
        assert_eq!(blue[0].colour, Some("blue"));
    }

    #[test]
    fn refuses_broken_and_unsupported_images() {
        let mut broken = png(2, 2, [1, 2, 3, 255], 0);
        let last = broken.len() - 20;
        broken[last] ^= 0xff; // inside IDAT: its CRC no longer matches
        let err = images(&body_with(&data_uri("image/png", &broken))).unwrap_err();
        assert_eq!(err.code, "image_parse_error");
        let err = images(&body_with(&data_uri("image/png", b"not a png"))).unwrap_err();
        assert_eq!(err.code, "image_parse_error");
        let err = images(&body_with(&data_uri("image/bmp", b"BM"))).unwrap_err();
        assert_eq!(err.code, "invalid_image_format");
        let err = images(&body_with("file:///etc/passwd")).unwrap_err();
        assert_eq!(err.code, "invalid_image_url");
    }

    #[test]
    fn urls_and_text_only_messages() {
        let seen = images(&body_with("https://example.com/cat.jpg")).unwrap();
        assert_eq!(seen[0].describe(), "an image by URL");
        assert!(
            images(&json!({"messages": [{"role": "user", "content": "hi"}]}))
                .unwrap()
                .is_empty()
        );
    }
}
