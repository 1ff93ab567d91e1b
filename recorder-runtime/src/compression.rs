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
//! Whose fault an error is decides its status: an answer ([`decode`],
//! [`StreamDecoder`]) that does not decode, or decodes past the limit, is the
//! upstream's ([`Error::BadAnswer`], 502); a request ([`decode_request`]) is the
//! client's (400, or 413 past the limit).
//!
//! Decoding needs the `compression` feature (off by default); without it a compressed
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

/// Decodes an upstream's whole answer, up to `limit` decoded bytes.
#[cfg(not(feature = "compression"))]
pub fn decode(codings: &Codings, body: &[u8], _limit: usize) -> Result<Vec<u8>> {
    if codings.is_identity() {
        return Ok(body.to_vec());
    }
    Err(codings.feature_off())
}

/// Decodes a client's whole request body, up to `limit` decoded bytes.
#[cfg(not(feature = "compression"))]
pub fn decode_request(codings: &Codings, body: &[u8], limit: usize) -> Result<Vec<u8>> {
    decode(codings, body, limit)
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

/// Why a body did not decode.
#[cfg(feature = "compression")]
#[derive(Debug)]
enum Failure {
    /// It decodes to more than the limit.
    TooLarge { coding: Coding, limit: usize },
    /// It is not what its coding says.
    Invalid {
        coding: Coding,
        error: std::io::Error,
    },
}

#[cfg(feature = "compression")]
impl Failure {
    /// The upstream's fault: 502.
    fn answer(self) -> Error {
        match self {
            Failure::TooLarge { coding, limit } => Error::BadAnswer {
                what: format!(
                    "decodes ({coding:?}) to more than {limit} bytes (raise {} if that is expected)",
                    crate::env::MAX_BODY_BYTES
                ),
                source: None,
            },
            Failure::Invalid { coding, error } => Error::BadAnswer {
                what: format!("is {coding:?}-encoded but does not decode: {error}"),
                source: Some(error.into()),
            },
        }
    }

    /// The client's fault: 413 past the limit, else 400.
    fn request(self) -> Error {
        match self {
            Failure::TooLarge { limit, .. } => Error::TooLarge {
                what: "the request body, decoded,",
                limit,
                var: crate::env::MAX_BODY_BYTES,
            },
            Failure::Invalid { coding, error } => Error::body(
                format!("a {coding:?}-encoded body cannot be decoded: {error}"),
                error,
            ),
        }
    }
}

/// Decodes an upstream's whole answer, up to `limit` decoded bytes; an answer that
/// does not decode, or decodes past the limit, is [`Error::BadAnswer`] (502).
#[cfg(feature = "compression")]
pub fn decode(codings: &Codings, body: &[u8], limit: usize) -> Result<Vec<u8>> {
    decode_all(codings, body, limit).map_err(Failure::answer)
}

/// Decodes a client's whole request body, up to `limit` decoded bytes; past the limit
/// is [`Error::TooLarge`] (413), a body that does not decode [`Error::Body`] (400).
#[cfg(feature = "compression")]
pub fn decode_request(codings: &Codings, body: &[u8], limit: usize) -> Result<Vec<u8>> {
    decode_all(codings, body, limit).map_err(Failure::request)
}

#[cfg(feature = "compression")]
fn decode_all(
    codings: &Codings,
    body: &[u8],
    limit: usize,
) -> std::result::Result<Vec<u8>, Failure> {
    let mut data = body.to_vec();
    for coding in codings.0.iter().rev() {
        data = decode_one(*coding, &data, limit)?;
    }
    Ok(data)
}

#[cfg(feature = "compression")]
fn decode_one(coding: Coding, body: &[u8], limit: usize) -> std::result::Result<Vec<u8>, Failure> {
    let result = match coding {
        Coding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(body), limit),
        // zlib-wrapped, else raw (some servers send that); past the limit is final.
        Coding::Deflate => match read_capped(flate2::read::ZlibDecoder::new(body), limit) {
            Err(Capped::Io(_)) => read_capped(flate2::read::DeflateDecoder::new(body), limit),
            other => other,
        },
        Coding::Brotli => read_capped(brotli_decompressor::Decompressor::new(body, 4096), limit),
        Coding::Zstd => match ruzstd::decoding::StreamingDecoder::new(body) {
            Ok(d) => read_capped(d, limit),
            Err(e) => Err(Capped::Io(std::io::Error::other(e.to_string()))),
        },
    };
    result.map_err(|e| match e {
        Capped::Over => Failure::TooLarge { coding, limit },
        Capped::Io(error) => Failure::Invalid { coding, error },
    })
}

/// Why [`read_capped`] stopped.
#[cfg(feature = "compression")]
enum Capped {
    Over,
    Io(std::io::Error),
}

#[cfg(feature = "compression")]
fn read_capped(r: impl Read, limit: usize) -> std::result::Result<Vec<u8>, Capped> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Capped::Io)?;
    if out.len() > limit {
        return Err(Capped::Over);
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
            return Err(Error::BadAnswer {
                what: format!(
                    "(a stream) decodes to more than {} bytes (raise {} if that is expected)",
                    self.limit,
                    crate::env::MAX_BODY_BYTES
                ),
                source: None,
            });
        }
        Ok(data)
    }
}

#[cfg(feature = "compression")]
impl Stage {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        let err = |e: std::io::Error| Error::BadAnswer {
            what: format!("(a compressed stream) does not decode: {e}"),
            source: Some(e.into()),
        };
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
        let err = |e: std::io::Error| Error::BadAnswer {
            what: format!("(a compressed stream) ended early: {e}"),
            source: Some(e.into()),
        };
        match self {
            Stage::Gzip(d) => d.finish().map_err(err),
            Stage::Zlib(d) => d.finish().map_err(err),
            Stage::Brotli(d) => d.into_inner().map_err(|_| Error::BadAnswer {
                what: "(a Brotli stream) ended early".into(),
                source: None,
            }),
            Stage::Zstd(buf) => decode_one(Coding::Zstd, &buf, limit).map_err(Failure::answer),
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
        let gzip = Codings::parse("gzip").unwrap();
        let bomb = encode("gzip", &vec![0u8; 10 << 20]);
        // An answer is the upstream's fault (502), a request the client's (413, 400).
        let err = decode(&gzip, &bomb, 1 << 20).unwrap_err();
        assert_eq!(err.http_status(), 502);
        let msg = err.to_string();
        assert!(
            msg.contains("answer decodes (Gzip) to more than 1048576 bytes")
                && msg.contains("RECORDER_MAX_BODY_BYTES"),
            "{msg}"
        );
        let err = decode_request(&gzip, &bomb, 1 << 20).unwrap_err();
        assert_eq!(err.http_status(), 413);
        assert!(err.to_string().contains("RECORDER_MAX_BODY_BYTES"), "{err}");
        let err = decode(&gzip, b"not gzip", 1 << 20).unwrap_err();
        assert_eq!(err.http_status(), 502);
        assert!(err.to_string().contains("does not decode"), "{err}");
        let err = decode_request(&gzip, b"not gzip", 1 << 20).unwrap_err();
        assert_eq!(err.http_status(), 400);
        assert!(err.to_string().contains("cannot be decoded"), "{err}");
        let mut d = StreamDecoder::new(&gzip, 1 << 20).unwrap();
        let err = bomb
            .chunks(4096)
            .find_map(|c| d.push(c).err())
            .expect("the stream goes past the limit");
        assert_eq!(err.http_status(), 502);
        assert!(err.to_string().contains("more than 1048576 bytes"), "{err}");
        let err = Codings::parse("compress").unwrap_err().to_string();
        assert!(err.contains("`compress` is not supported"), "{err}");
        assert!(Codings::parse("identity").unwrap().is_identity());
    }
}
