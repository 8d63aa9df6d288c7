//! A tiny HTTP/1.1 server on a real TCP socket, for `llm-bridge voice`:
//! it serves files by path (whole, or from a `Range: bytes=N-`), records
//! every request, and can cut a file's first answers short, as a dropped
//! connection does. One request per connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A file's first `times` answers end after `after` bytes of the file,
/// though their headers promise all of it.
pub struct Cut {
    pub path: String,
    pub after: u64,
    pub times: usize,
}

/// A request: its path and where its range starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub path: String,
    pub from: Option<u64>,
}

pub struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    files: HashMap<String, Vec<u8>>,
    cut: Option<Cut>,
    cuts_done: AtomicUsize,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub fn start(files: HashMap<String, Vec<u8>>, cut: Option<Cut>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            files,
            cut,
            cuts_done: AtomicUsize::new(0),
            requests: Arc::clone(&requests),
        });
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Server {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The base URL, ending in `/`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let mut from = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let lower = header.to_ascii_lowercase();
        if let Some(range) = lower.strip_prefix("range: bytes=") {
            from = range.trim().trim_end_matches('-').parse::<u64>().ok();
        }
    }
    shared.requests.lock().unwrap().push(Request {
        path: path.clone(),
        from,
    });
    let Some(body) = shared.files.get(&path) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let len = body.len() as u64;
    let start = from.unwrap_or(0).min(len);
    let head = match from {
        Some(n) => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {n}-{}/{len}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            len - 1,
            len - start
        ),
        None => format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"),
    };
    let mut end = len;
    if let Some(cut) = &shared.cut {
        if cut.path == path
            && cut.after > start
            && shared.cuts_done.fetch_add(1, Ordering::SeqCst) < cut.times
        {
            end = cut.after;
        }
    }
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body[start as usize..end as usize]);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}
