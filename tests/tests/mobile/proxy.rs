//! A loopback HTTP/1.1 proxy that breaks the link on purpose: it forwards
//! each request on a fresh upstream connection (`Connection: close`) and,
//! per path, can lose the response after the server handled the request,
//! send the request twice, or find the server gone. It also tells what
//! happened to each forwarded request: answered in full, refused (no
//! server), or cut (the server took the whole request, then its answer
//! ended early: the server died mid-request).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Default)]
struct Faults {
    upstream: Option<SocketAddr>,
    /// Path -> how many of the next responses to lose.
    lose_response: HashMap<String, u32>,
    /// Path -> how many of the next requests to send twice.
    duplicate: HashMap<String, u32>,
    /// Path -> requests seen.
    seen: HashMap<String, u32>,
    /// Path -> requests written in full to a server.
    forwarded: HashMap<String, u32>,
    /// Path -> requests a server took whole and never answered in full.
    cut: HashMap<String, u32>,
    /// Path -> body bytes of the requests written in full to a server.
    body_bytes: HashMap<String, u64>,
    /// Path -> requests written in full whose body was compressed
    /// (`Content-Encoding`).
    compressed: HashMap<String, u32>,
    /// Path -> after this many requests, hold the next ones (never forward
    /// them) until the client goes away or `release` is called.
    stall_after: HashMap<String, u32>,
}

#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    /// Bumped whenever a request has been written to a server.
    forwarded: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let faults = Arc::new(Mutex::new(Faults {
            upstream: Some(upstream),
            ..Faults::default()
        }));
        let (forwarded, _) = watch::channel(0);
        let proxy = Self {
            addr,
            faults,
            forwarded,
        };
        let shared = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let proxy = shared.clone();
                tokio::spawn(async move {
                    let _ = proxy.serve(client).await;
                });
            }
        });
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points the proxy at a (restarted) server, or at none.
    pub fn set_upstream(&self, upstream: Option<SocketAddr>) {
        self.faults.lock().unwrap().upstream = upstream;
    }

    pub fn lose_responses(&self, path: &str, n: u32) {
        self.faults
            .lock()
            .unwrap()
            .lose_response
            .insert(path.into(), n);
    }

    pub fn duplicate_requests(&self, path: &str, n: u32) {
        self.faults.lock().unwrap().duplicate.insert(path.into(), n);
    }

    pub fn seen(&self, path: &str) -> u32 {
        count(&self.faults.lock().unwrap().seen, path)
    }

    /// Requests to `path` written in full to a server.
    pub fn forwarded(&self, path: &str) -> u32 {
        count(&self.faults.lock().unwrap().forwarded, path)
    }

    /// Requests to `path` that a server took whole and did not answer in
    /// full: it died (or was killed) while handling them.
    pub fn cut(&self, path: &str) -> u32 {
        count(&self.faults.lock().unwrap().cut, path)
    }

    /// Body bytes of the requests to `path` a server took whole.
    pub fn body_bytes(&self, path: &str) -> u64 {
        self.faults
            .lock()
            .unwrap()
            .body_bytes
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests to `path` a server took whole with a compressed body.
    pub fn compressed(&self, path: &str) -> u32 {
        count(&self.faults.lock().unwrap().compressed, path)
    }

    /// Holds every request to `path` after the first `after`: the client
    /// waits for an answer that never comes (to kill it mid-transfer).
    pub fn stall(&self, path: &str, after: u32) {
        self.faults
            .lock()
            .unwrap()
            .stall_after
            .insert(path.into(), after);
    }

    pub fn release(&self, path: &str) {
        self.faults.lock().unwrap().stall_after.remove(path);
    }

    /// Waits until more than `already` requests to `path` were forwarded.
    pub async fn wait_forwarded(&self, path: &str, already: u32) {
        let mut changed = self.forwarded.subscribe();
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while self.forwarded(path) <= already {
                changed.changed().await.unwrap();
            }
        })
        .await
        .expect("no request was forwarded within 30 s");
    }

    /// One request per client connection: the forwarded request asks the
    /// server to close, so its response tells the client to open a new one.
    async fn serve(&self, mut client: TcpStream) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let Some((path, request, body)) = read_request(&mut client, &mut buf).await else {
            return Ok(());
        };
        let held = {
            let mut f = self.faults.lock().unwrap();
            *f.seen.entry(path.clone()).or_default() += 1;
            f.stall_after
                .get(&path)
                .is_some_and(|n| count(&f.seen, &path) > *n)
        };
        if held {
            // Wait for the client to give up or die.
            let _ = client.read(&mut [0u8; 1]).await;
            return Ok(());
        }
        let (upstream, lose, twice) = {
            let mut f = self.faults.lock().unwrap();
            let lose = take(&mut f.lose_response, &path);
            let twice = take(&mut f.duplicate, &path);
            (f.upstream, lose, twice)
        };
        let Some(upstream) = upstream else {
            return Ok(()); // server gone: the client sees the connection drop
        };
        if twice {
            self.exchange(upstream, &path, &request, body).await;
        }
        let Exchange::Answered(response) = self.exchange(upstream, &path, &request, body).await
        else {
            return Ok(()); // the client sees the connection drop
        };
        if lose {
            return Ok(()); // handled by the server, never delivered
        }
        client.write_all(&response).await
    }

    async fn exchange(
        &self,
        upstream: SocketAddr,
        path: &str,
        request: &[u8],
        body: u64,
    ) -> Exchange {
        let Ok(mut server) = TcpStream::connect(upstream).await else {
            return Exchange::Refused;
        };
        if server.write_all(request).await.is_err() {
            return Exchange::Refused;
        }
        {
            let mut f = self.faults.lock().unwrap();
            *f.forwarded.entry(path.to_owned()).or_default() += 1;
            *f.body_bytes.entry(path.to_owned()).or_default() += body;
            if header(request, "content-encoding").is_some() {
                *f.compressed.entry(path.to_owned()).or_default() += 1;
            }
        }
        self.forwarded.send_modify(|n| *n += 1);
        let mut response = Vec::new();
        let read = server.read_to_end(&mut response).await;
        if read.is_ok() && complete(&response) {
            Exchange::Answered(response)
        } else {
            *self
                .faults
                .lock()
                .unwrap()
                .cut
                .entry(path.to_owned())
                .or_default() += 1;
            Exchange::Cut
        }
    }
}

/// What became of one forwarded request.
enum Exchange {
    Answered(Vec<u8>),
    /// No server to take it.
    Refused,
    /// The server took it and its answer ended early, or never came.
    Cut,
}

fn count(map: &HashMap<String, u32>, path: &str) -> u32 {
    map.get(path).copied().unwrap_or(0)
}

/// Whether `response` is a whole HTTP/1.1 response: its head, and the body
/// its Content-Length (or chunked encoding) announces.
fn complete(response: &[u8]) -> bool {
    let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    let body = &response[head_end + 4..];
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    if let Some(length) = header("content-length") {
        return length.parse::<usize>().is_ok_and(|n| body.len() >= n);
    }
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return body.ends_with(b"0\r\n\r\n");
    }
    true // ends with the connection, which we asked for
}

/// The value of header `name` in the head of `message` (a request or a
/// response), if it has one.
fn header(message: &[u8], name: &str) -> Option<String> {
    let head_end = message.windows(4).position(|w| w == b"\r\n\r\n")?;
    String::from_utf8_lossy(&message[..head_end])
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
}

fn take(map: &mut HashMap<String, u32>, path: &str) -> bool {
    match map.get_mut(path) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

/// Reads one request: head (up to the blank line) and a Content-Length body.
/// Returns its path, the request to forward and its body length.
async fn read_request(client: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>, u64)> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 65536];
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let rest = buf.split_off(head_end + length);
    let mut request = std::mem::replace(buf, rest);
    // Ask the server to close after answering, so EOF ends the response.
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n\r\n")
        .split("\r\n")
        .filter(|l| {
            !l.split_once(':')
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case("connection"))
        })
        .collect();
    lines.push("connection: close");
    let path = lines[0].split(' ').nth(1).unwrap_or("").to_owned();
    let mut forwarded = lines.join("\r\n").into_bytes();
    forwarded.extend_from_slice(b"\r\n\r\n");
    forwarded.extend_from_slice(&request.split_off(head_end));
    Some((path, forwarded, length as u64))
}
