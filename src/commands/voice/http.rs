//! The HTTP client of `llm-bridge voice`: ureq, blocking, over rustls with
//! the webpki roots (no system TLS library, no async runtime), following
//! redirects (Hugging Face answers from a CDN). A status is an answer to
//! look at, not an error: a ranged request may get 206, 200 or 416.

use llm_bridge_core::error::{bail, Context, Result};
use std::io::Read;
use std::time::Duration;

/// A connection that stalls this long is given up (and resumed).
const STALL: Duration = Duration::from_secs(30);

pub struct Http {
    agent: ureq::Agent,
}

/// An answer: its status, where its body starts (for a 206), and the body.
pub struct Answer {
    pub status: u16,
    /// The first byte of a 206's `Content-Range: bytes START-END/SIZE`.
    pub range_start: Option<u64>,
    pub body: Box<dyn Read + Send>,
}

impl Http {
    pub fn new() -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(STALL))
            .timeout_recv_response(Some(STALL))
            .timeout_per_read(Some(STALL))
            .user_agent(concat!("llm-bridge/", env!("CARGO_PKG_VERSION")))
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// GETs `url` from byte `from` on (the whole of it from 0).
    pub fn get(&self, url: &str, from: u64) -> Result<Answer> {
        let mut request = self.agent.get(url);
        if from > 0 {
            request = request.header("Range", format!("bytes={from}-"));
        }
        let response = request
            .call()
            .with_context(|| format!("cannot fetch {url}"))?;
        let status = response.status().as_u16();
        let range_start = response
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.trim().parse().ok());
        Ok(Answer {
            status,
            range_start,
            body: Box::new(response.into_body().into_reader()),
        })
    }

    /// The whole of `url`, refused past `cap` bytes.
    pub fn get_all(&self, url: &str, cap: u64) -> Result<Vec<u8>> {
        let answer = self.get(url, 0)?;
        if answer.status != 200 {
            bail!("cannot fetch {url}: HTTP {}", answer.status);
        }
        let mut bytes = Vec::new();
        answer
            .body
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot fetch {url}"))?;
        if bytes.len() as u64 > cap {
            bail!("{url} is larger than {} MiB", cap >> 20);
        }
        Ok(bytes)
    }
}
