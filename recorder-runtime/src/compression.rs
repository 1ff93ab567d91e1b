//! `Content-Encoding`: compressed request and response bodies.
//!
//! Recordings hold bodies decoded, so that they are readable, diffable and scrubbed of
//! secrets like any other. A compressed answer is decoded on the way in; the client
//! gets the decoded body without a `Content-Encoding` header, when recording and on
//! replay alike. A compressed request is forwarded upstream as it came, with its
//! `Content-Encoding`, and identified by its decoded body.
//!
//! Codings: `gzip` (and `x-gzip`), `deflate` (zlib, or raw deflate as some servers
//! send it), `br`, `zstd` and `identity`, alone or in a list applied in order. A
//! decoded body larger than the limit given is an error, never a partial body.
//!
//! Decoding needs the `compression` feature (on by default); without it a compressed
//! body is refused with an error naming the feature, and nothing is recorded.
//!
//! ```
//! # #[cfg(feature = "compression")] {
//! use recorder_runtime::compression::{decode, Codings};
//! use std::io::Write;
//! let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
//! gz.write_all(b"{\"ok\":true}").unwrap();
//! let codings = Codings::parse("gzip").unwrap();
//! assert_eq!(decode(&codings, &gz.finish().unwrap(), 1 << 20).unwrap(), b"{\"ok\":true}");
//! # }
//! ```

use crate::error::{Error, Result};
#[cfg(feature = "compression")]
use std::io::{Read, Write};

/// One content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip`, `x-gzip`.
    Gzip,
    /// `deflate`: zlib-wrapped, or raw.
    Deflate,
    /// `br`: Brotli.
    Brotli,
    /// `zstd`: Zstandard.
    Zstd,
}

/// The codings of a `Content-Encoding` header, in the order they were applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Codings(Vec<Coding>);

impl Codings {
    /// Parses a `Content-Encoding` value; an unknown coding is an error naming it.
    pub fn parse(header: &str) -> Result<Codings> {
        let mut out = Vec::new();
        for name in header.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            out.push(match name.to_ascii_lowercase().as_str() {
                "identity" => continue,
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                "br" => Coding::Brotli,
                "zstd" => Coding::Zstd,
                other => {
                    return Err(Error::Body {
                        what: format!("Content-Encoding `{other}` is not supported (gzip, deflate, br, zstd and identity are)"),
                        source: None,
                    })
                }
            });
        }
        Ok(Codings(out))
    }

    /// Whether the body is encoded at all.
    pub fn is_identity(&self) -> bool {
        self.0.is_empty()
    }

    /// The error of a build without the `compression` feature.
    #[cfg(not(feature = "compression"))]
    fn feature_off(&self) -> Error {
        Error::FeatureOff {
            what: format!("a body with Content-Encoding {:?}", self.0),
            feature: "compression",
        }
    }
}

/// Decodes a whole body, up to `limit` decoded bytes.
#[cfg(not(feature = "compression"))]
pub fn decode(codings: &Codings, body: &[u8], _limit: usize) -> Result<Vec<u8>> {
    if codings.is_identity() {
        return Ok(body.to_vec());
    }
    Err(codings.feature_off())
}

/// Decodes a streamed body chunk by chunk (a build without the `compression`
/// feature refuses any coding).
#[cfg(not(feature = "compression"))]
#[derive(Debug)]
pub struct StreamDecoder(());

#[cfg(not(feature = "compression"))]
impl StreamDecoder {
    /// Refuses: decoding needs the `compression` feature.
    pub fn new(codings: &Codings, _limit: usize) -> Result<StreamDecoder> {
        Err(codings.feature_off())
    }

    /// Never called: no decoder exists without the feature.
    pub fn push(&mut self, _chunk: &[u8]) -> Result<Vec<u8>> {
        unreachable!("no StreamDecoder without the compression feature")
    }

    /// Never called: no decoder exists without the feature.
    pub fn finish(self) -> Result<Vec<u8>> {
        unreachable!("no StreamDecoder without the compression feature")
    }
}

/// Decodes a whole body, up to `limit` decoded bytes.
#[cfg(feature = "compression")]
pub fn decode(codings: &Codings, body: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut data = body.to_vec();
    for coding in codings.0.iter().rev() {
        data = decode_one(*coding, &data, limit)?;
    }
    Ok(data)
}

#[cfg(feature = "compression")]
fn decode_one(coding: Coding, body: &[u8], limit: usize) -> Result<Vec<u8>> {
    let result = match coding {
        Coding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(body), limit),
        Coding::Deflate => read_capped(flate2::read::ZlibDecoder::new(body), limit)
            .or_else(|_| read_capped(flate2::read::DeflateDecoder::new(body), limit)),
        Coding::Brotli => read_capped(brotli_decompressor::Decompressor::new(body, 4096), limit),
        Coding::Zstd => match ruzstd::decoding::StreamingDecoder::new(body) {
            Ok(d) => read_capped(d, limit),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        },
    };
    result.map_err(|e| {
        Error::body(
            format!("a {coding:?}-encoded body cannot be decoded: {e}"),
            e,
        )
    })
}

#[cfg(feature = "compression")]
fn read_capped(r: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(std::io::Error::other(format!(
            "it decodes to more than {limit} bytes"
        )));
    }
    Ok(out)
}

/// Decodes a streamed body chunk by chunk: gzip, deflate and Brotli as they arrive;
/// zstd (rare on streams) at the end.
#[cfg(feature = "compression")]
pub struct StreamDecoder {
    stages: Vec<Stage>,
    limit: usize,
    total: usize,
}

#[cfg(feature = "compression")]
enum Stage {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
    Zstd(Vec<u8>),
}

#[cfg(feature = "compression")]
impl std::fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamDecoder({} stages)", self.stages.len())
    }
}

#[cfg(feature = "compression")]
impl StreamDecoder {
    /// A decoder for these codings, up to `limit` decoded bytes in all.
    pub fn new(codings: &Codings, limit: usize) -> Result<StreamDecoder> {
        let stages = codings
            .0
            .iter()
            .rev()
            .map(|c| match c {
                Coding::Gzip => Stage::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
                Coding::Deflate => Stage::Zlib(flate2::write::ZlibDecoder::new(Vec::new())),
                Coding::Brotli => Stage::Brotli(Box::new(
                    brotli_decompressor::DecompressorWriter::new(Vec::new(), 4096),
                )),
                Coding::Zstd => Stage::Zstd(Vec::new()),
            })
            .collect();
        Ok(StreamDecoder {
            stages,
            limit,
            total: 0,
        })
    }

    /// Decodes one chunk; returns what it decoded to (possibly nothing yet).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        let mut data = chunk.to_vec();
        for stage in &mut self.stages {
            data = stage.push(&data)?;
        }
        self.count(data)
    }

    /// Ends the stream; returns the rest.
    pub fn finish(mut self) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        let limit = self.limit;
        for stage in std::mem::take(&mut self.stages) {
            let mut stage = stage;
            let mut out = stage.push(&data)?;
            out.extend(stage.finish(limit)?);
            data = out;
        }
        self.count(data)
    }

    fn count(&mut self, data: Vec<u8>) -> Result<Vec<u8>> {
        self.total += data.len();
        if self.total > self.limit {
            return Err(Error::TooLarge {
                what: "the streamed answer, decoded,",
                limit: self.limit,
                var: crate::env::MAX_BODY_BYTES,
            });
        }
        Ok(data)
    }
}

#[cfg(feature = "compression")]
impl Stage {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        let err = |e: std::io::Error| Error::body("a compressed stream cannot be decoded", e);
        Ok(match self {
            Stage::Gzip(d) => {
                d.write_all(chunk).map_err(err)?;
                d.flush().map_err(err)?;
                std::mem::take(d.get_mut())
            }
            Stage::Zlib(d) => {
                d.write_all(chunk).map_err(err)?;
                d.flush().map_err(err)?;
                std::mem::take(d.get_mut())
            }
            Stage::Brotli(d) => {
                d.write_all(chunk).map_err(err)?;
                d.flush().map_err(err)?;
                std::mem::take(d.get_mut())
            }
            Stage::Zstd(buf) => {
                buf.extend_from_slice(chunk);
                Vec::new()
            }
        })
    }

    fn finish(self, limit: usize) -> Result<Vec<u8>> {
        let err = |e: std::io::Error| Error::body("a compressed stream ended early", e);
        match self {
            Stage::Gzip(d) => d.finish().map_err(err),
            Stage::Zlib(d) => d.finish().map_err(err),
            Stage::Brotli(d) => d.into_inner().map_err(|_| Error::Body {
                what: "a Brotli stream ended early".into(),
                source: None,
            }),
            Stage::Zstd(buf) => decode_one(Coding::Zstd, &buf, limit),
        }
    }
}

#[cfg(all(test, feature = "compression"))]
mod tests {
    use super::*;

    const TEXT: &[u8] =
        b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";

    fn encode(coding: &str, data: &[u8]) -> Vec<u8> {
        match coding {
            "gzip" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            "br" => {
                let mut out = Vec::new();
                brotli::BrotliCompress(&mut &data[..], &mut out, &Default::default()).unwrap();
                out
            }
            "zstd" => {
                ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_coding_decodes_whole_and_chunk_by_chunk() {
        for coding in ["gzip", "deflate", "br", "zstd"] {
            let encoded = encode(coding, TEXT);
            let codings = Codings::parse(coding).unwrap();
            assert_eq!(
                decode(&codings, &encoded, 1 << 20).unwrap(),
                TEXT,
                "{coding}"
            );
            let mut d = StreamDecoder::new(&codings, 1 << 20).unwrap();
            let mut out = Vec::new();
            for piece in encoded.chunks(7) {
                out.extend(d.push(piece).unwrap());
            }
            out.extend(d.finish().unwrap());
            assert_eq!(out, TEXT, "{coding} in chunks");
        }
    }

    #[test]
    fn raw_deflate_and_stacked_codings_decode() {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(TEXT).unwrap();
        let raw = e.finish().unwrap();
        assert_eq!(
            decode(&Codings::parse("deflate").unwrap(), &raw, 1 << 20).unwrap(),
            TEXT
        );
        let twice = encode("br", &encode("gzip", TEXT));
        assert_eq!(
            decode(&Codings::parse("gzip, br").unwrap(), &twice, 1 << 20).unwrap(),
            TEXT
        );
    }

    #[test]
    fn bombs_bad_bytes_and_unknown_codings_are_clear_errors() {
        let bomb = encode("gzip", &vec![0u8; 10 << 20]);
        let err = decode(&Codings::parse("gzip").unwrap(), &bomb, 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 1048576 bytes"), "{err}");
        let err = decode(&Codings::parse("gzip").unwrap(), b"not gzip", 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be decoded"), "{err}");
        let err = Codings::parse("compress").unwrap_err().to_string();
        assert!(err.contains("`compress` is not supported"), "{err}");
        assert!(Codings::parse("identity").unwrap().is_identity());
    }
}
