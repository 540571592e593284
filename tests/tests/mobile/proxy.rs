//! A loopback HTTP/1.1 proxy that breaks the link on purpose: it forwards
//! each request on a fresh upstream connection (`Connection: close`) and,
//! per path, can lose the response after the server handled the request,
//! send the request twice, or find the server gone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Faults {
    upstream: Option<SocketAddr>,
    /// Path -> how many of the next responses to lose.
    lose_response: HashMap<String, u32>,
    /// Path -> how many of the next requests to send twice.
    duplicate: HashMap<String, u32>,
    /// Path -> requests seen.
    seen: HashMap<String, u32>,
}

#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let faults = Arc::new(Mutex::new(Faults {
            upstream: Some(upstream),
            ..Faults::default()
        }));
        let shared = faults.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let faults = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(client, faults).await;
                });
            }
        });
        Self { addr, faults }
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
        self.faults
            .lock()
            .unwrap()
            .seen
            .get(path)
            .copied()
            .unwrap_or(0)
    }
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
async fn read_request(client: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
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
    Some((path, forwarded))
}

async fn exchange(upstream: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await.ok()?;
    server.write_all(request).await.ok()?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await.ok()?;
    (!response.is_empty()).then_some(response)
}

/// One request per client connection: the forwarded request asks the
/// server to close, so its response tells the client to open a new one.
async fn serve(mut client: TcpStream, faults: Arc<Mutex<Faults>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let Some((path, request)) = read_request(&mut client, &mut buf).await else {
        return Ok(());
    };
    let (upstream, lose, twice) = {
        let mut f = faults.lock().unwrap();
        *f.seen.entry(path.clone()).or_default() += 1;
        let lose = take(&mut f.lose_response, &path);
        let twice = take(&mut f.duplicate, &path);
        (f.upstream, lose, twice)
    };
    let Some(upstream) = upstream else {
        return Ok(()); // server gone: the client sees the connection drop
    };
    if twice {
        exchange(upstream, &request).await;
    }
    let Some(response) = exchange(upstream, &request).await else {
        return Ok(());
    };
    if lose {
        return Ok(()); // handled by the server, never delivered
    }
    client.write_all(&response).await
}
