//! A fault-injecting JSON-RPC proxy between the CLIs and anvil: the CLIs talk to the proxy's URL as to any node,
//! and the proxy misbehaves on one chosen request the way real networks do (lost, late or dropped messages, a
//! node restart, another sender using the nonce, a stale gas estimate).
//!
//! It speaks plain HTTP/1.1 with keep-alive over a TCP listener so that "the node went away" can be real: the
//! listener is closed (connections are refused) and re-opened on the same port later.

use alloy::consensus::{Transaction, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What a public RPC provider refuses, on top of any [`Fault`]: `eth_getLogs` over more than `max_range` blocks or
/// with more than `max_results` logs is answered with the provider's error, and one request in `throttle_every`
/// (pseudo-randomly, seeded) is answered with HTTP 429.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub max_range: Option<u64>,
    pub max_results: Option<usize>,
    pub throttle_every: Option<usize>,
}

/// What goes wrong, and on which request (counted from 0 per method, over the proxy's lifetime).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Everything is forwarded.
    None,
    /// The n-th `eth_sendRawTransaction` is swallowed: answered with its hash, never forwarded (a node that
    /// accepted the transaction and lost it from its pool).
    Drop(usize),
    /// The n-th `eth_sendRawTransaction` is forwarded but its answer held back this long (the client times out).
    Delay(usize, Duration),
    /// Right before the n-th `eth_sendRawTransaction` is forwarded, another transaction with the same nonce is
    /// sent with this private key (another process using the same key).
    Steal(usize, String),
    /// The n-th `eth_sendRawTransaction` is swallowed and its nonce spent by another transaction with this key.
    DropAndSteal(usize, String),
    /// The n-th `eth_estimateGas` is answered with 21,000 gas (a stale estimate: the transaction runs out of gas
    /// on-chain, in the middle of the pipeline).
    LowEstimate(usize),
    /// At the n-th `eth_sendRawTransaction` the node dies: the request is not forwarded, the connection drops and
    /// the port refuses connections. After the given time a new anvil, loaded with the old one's state at the
    /// moment of the crash, answers at the same URL.
    Crash(usize, Duration),
    /// After the n-th `eth_sendRawTransaction` was forwarded (and, with instant mining, mined), every later
    /// request is held without an answer: the client is stuck right after its transaction landed, where a test
    /// can kill it (a crash between "sent" and "recorded").
    HangAfterSend(usize),
}

struct Inner {
    port: u16,
    upstream: Mutex<String>,
    fault: Mutex<Fault>,
    sends: AtomicUsize,
    estimates: AtomicUsize,
    down: AtomicBool,
    /// A request is being held by a `HangAfterSend` fault.
    hanging: AtomicBool,
    /// Hashes of the raw transactions forwarded to the node, in order (re-broadcasts show up twice).
    forwarded: Mutex<Vec<B256>>,
    /// Hashes of the raw transactions swallowed by a `Drop` fault.
    swallowed: Mutex<Vec<B256>>,
    /// Provider-like limits on every request (none by default).
    limits: Mutex<Limits>,
    /// Requests answered with HTTP 429 by the rate limit.
    throttled: AtomicUsize,
    /// `eth_getLogs` requests forwarded to the node (answered with logs).
    log_reads: AtomicUsize,
    /// `eth_getLogs` requests refused for their range or result count.
    log_refusals: AtomicUsize,
    /// All requests seen (the rate limit's clock).
    requests: AtomicUsize,
    server: Mutex<Option<JoinHandle<()>>>,
    /// The anvil started after a crash (kept alive with the proxy).
    restarted: Mutex<Option<AnvilInstance>>,
    http: reqwest::Client,
}

/// A running proxy. Dropping it stops listening.
pub struct Proxy {
    pub url: String,
    inner: Arc<Inner>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(mut s) = self.inner.server.lock() {
            if let Some(h) = s.take() {
                h.abort();
            }
        }
    }
}

impl Proxy {
    /// Starts a proxy in front of `upstream` with no fault armed.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let inner = Arc::new(Inner {
            port,
            upstream: Mutex::new(upstream.to_string()),
            fault: Mutex::new(Fault::None),
            sends: AtomicUsize::new(0),
            limits: Mutex::new(Limits::default()),
            throttled: AtomicUsize::new(0),
            log_reads: AtomicUsize::new(0),
            log_refusals: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            estimates: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            hanging: AtomicBool::new(false),
            forwarded: Mutex::new(Vec::new()),
            swallowed: Mutex::new(Vec::new()),
            server: Mutex::new(None),
            restarted: Mutex::new(None),
            http: reqwest::Client::new(),
        });
        let h = tokio::spawn(accept_loop(listener, inner.clone()));
        *inner.server.lock().expect("lock") = Some(h);
        Self {
            url: format!("http://127.0.0.1:{port}"),
            inner,
        }
    }

    /// Arms a fault; request counters and the forwarded/swallowed lists restart empty.
    pub fn arm(&self, fault: Fault) {
        self.inner.forwarded.lock().expect("lock").clear();
        self.inner.swallowed.lock().expect("lock").clear();
        self.inner.sends.store(0, Ordering::SeqCst);
        self.inner.estimates.store(0, Ordering::SeqCst);
        self.inner.hanging.store(false, Ordering::SeqCst);
        *self.inner.fault.lock().expect("lock") = fault;
    }

    /// Behaves like a public provider from now on (see [`Limits`]).
    pub fn limit(&self, limits: Limits) {
        *self.inner.limits.lock().expect("lock") = limits;
    }

    /// `eth_getLogs` requests answered with logs, refused for their size, and requests throttled with HTTP 429.
    pub fn log_stats(&self) -> (usize, usize, usize) {
        (
            self.inner.log_reads.load(Ordering::SeqCst),
            self.inner.log_refusals.load(Ordering::SeqCst),
            self.inner.throttled.load(Ordering::SeqCst),
        )
    }

    /// Hashes of the raw transactions forwarded so far.
    pub fn forwarded(&self) -> Vec<B256> {
        self.inner.forwarded.lock().expect("lock").clone()
    }

    /// Hashes of the raw transactions swallowed so far.
    pub fn swallowed(&self) -> Vec<B256> {
        self.inner.swallowed.lock().expect("lock").clone()
    }

    /// `eth_sendRawTransaction` requests seen since the fault was armed.
    pub fn sends(&self) -> usize {
        self.inner.sends.load(Ordering::SeqCst)
    }

    /// The node the proxy forwards to now (changes after a crash).
    pub fn upstream(&self) -> String {
        self.inner.upstream.lock().expect("lock").clone()
    }

    /// Whether a `HangAfterSend` fault is holding a request (the client is stuck after its transaction).
    pub fn is_hanging(&self) -> bool {
        self.inner.hanging.load(Ordering::SeqCst)
    }

    /// Whether the node is currently unreachable.
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::SeqCst)
    }
}

/// Accepts connections until aborted (boxed: a crash re-spawns it from inside a connection).
fn accept_loop(
    listener: TcpListener,
    inner: Arc<Inner>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve_conn(sock, inner.clone()));
        }
    })
}

/// Reads one HTTP/1.1 request body (None when the peer closed the connection).
async fn read_request(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn serve_conn(sock: TcpStream, inner: Arc<Inner>) {
    let mut r = BufReader::new(sock);
    while let Some(body) = read_request(&mut r).await {
        if inner.down.load(Ordering::SeqCst) {
            return; // the node is gone: drop the connection without an answer
        }
        let (status, answer) = if throttle(&inner) {
            let busy = br#"{"jsonrpc":"2.0","id":null,"error":{"code":429,"message":"Too Many Requests"}}"#;
            ("429 Too Many Requests", busy.to_vec())
        } else {
            let Some(answer) = handle(&inner, body).await else {
                return;
            };
            ("200 OK", answer)
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        let s = r.get_mut();
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(&answer).await.is_err() {
            return;
        }
    }
}

async fn forward(inner: &Inner, body: Vec<u8>) -> Option<Vec<u8>> {
    let url = inner.upstream.lock().ok()?.clone();
    let resp = inner
        .http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .ok()?;
    Some(resp.bytes().await.ok()?.to_vec())
}

/// Whether this request is one the rate limit answers with 429 (about one in `throttle_every`, pseudo-random).
fn throttle(inner: &Inner) -> bool {
    let Some(every) = inner.limits.lock().ok().and_then(|l| l.throttle_every) else {
        return false;
    };
    let n = inner.requests.fetch_add(1, Ordering::SeqCst);
    let roll = u64::from_be_bytes(
        keccak256(n.to_be_bytes())[..8]
            .try_into()
            .unwrap_or_default(),
    );
    let hit = roll % every.max(1) as u64 == 0;
    if hit {
        inner.throttled.fetch_add(1, Ordering::SeqCst);
    }
    hit
}

/// An `eth_getLogs` under provider limits: a range over `max_range` blocks, or an answer over `max_results`
/// logs, is refused with the provider's error (the client must ask again for less).
async fn limited_logs(
    inner: &Inner,
    req: &Value,
    body: Vec<u8>,
    limits: Limits,
) -> Option<Vec<u8>> {
    let refuse = |message: String| {
        inner.log_refusals.fetch_add(1, Ordering::SeqCst);
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32602, "message": message}})).ok()
    };
    let block = |v: &Value| {
        v.as_str()
            .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
    };
    let (from, to) = (
        block(&req["params"][0]["fromBlock"]),
        block(&req["params"][0]["toBlock"]),
    );
    if let Some(max) = limits.max_range {
        match (from, to) {
            (Some(f), Some(t)) if t.saturating_sub(f) < max => {}
            _ => return refuse(format!("query exceeds max block range {max}")),
        }
    }
    let answer = forward(inner, body).await?;
    if let Some(max) = limits.max_results {
        let v: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if v["result"].as_array().is_some_and(|logs| logs.len() > max) {
            return refuse(format!("query returned more than {max} results"));
        }
    }
    inner.log_reads.fetch_add(1, Ordering::SeqCst);
    Some(answer)
}

fn raw_tx(req: &Value) -> Option<Bytes> {
    req["params"][0].as_str()?.parse().ok()
}

/// Handles one request; None drops the connection without an answer.
async fn handle(inner: &Arc<Inner>, body: Vec<u8>) -> Option<Vec<u8>> {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let method = req["method"].as_str().unwrap_or_default().to_string();
    let fault = inner.fault.lock().ok()?.clone();
    if let Fault::HangAfterSend(at) = fault {
        if inner.sends.load(Ordering::SeqCst) > at {
            inner.hanging.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
    }
    if method == "eth_getLogs" {
        let limits = *inner.limits.lock().ok()?;
        if limits.max_range.is_some() || limits.max_results.is_some() {
            return limited_logs(inner, &req, body, limits).await;
        }
    }
    if method == "eth_estimateGas" {
        let n = inner.estimates.fetch_add(1, Ordering::SeqCst);
        if matches!(fault, Fault::LowEstimate(at) if at == n) {
            return serde_json::to_vec(
                &json!({"jsonrpc": "2.0", "id": req["id"], "result": "0x5208"}),
            )
            .ok();
        }
        return forward(inner, body).await;
    }
    if method != "eth_sendRawTransaction" {
        return forward(inner, body).await;
    }
    let n = inner.sends.fetch_add(1, Ordering::SeqCst);
    let raw = raw_tx(&req)?;
    let hash = keccak256(&raw);
    let fake_ok =
        || serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": req["id"], "result": hash})).ok();
    match fault {
        Fault::Drop(at) if at == n => {
            inner.swallowed.lock().ok()?.push(hash);
            return fake_ok();
        }
        Fault::DropAndSteal(at, ref key) if at == n => {
            inner.swallowed.lock().ok()?.push(hash);
            steal_nonce(inner, &raw, key).await;
            return fake_ok();
        }
        Fault::Steal(at, ref key) if at == n => steal_nonce(inner, &raw, key).await,
        Fault::Crash(at, down_for) if at == n => {
            crash(inner, down_for).await;
            return None;
        }
        _ => {}
    }
    inner.forwarded.lock().ok()?.push(hash);
    let answer = forward(inner, body).await;
    if let Fault::Delay(at, d) = fault {
        if at == n {
            tokio::time::sleep(d).await;
        }
    }
    answer
}

/// Sends a 0-value self-transfer with the same sender and nonce as `raw`, straight to the node.
async fn steal_nonce(inner: &Inner, raw: &Bytes, key: &str) {
    let tx = TxEnvelope::decode_2718(&mut raw.as_ref()).expect("a signed transaction");
    let signer: PrivateKeySigner = key.parse().expect("private key");
    let me: Address = signer.address();
    let url = inner.upstream.lock().expect("lock").clone();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url.parse().expect("url"));
    let other = TransactionRequest::default()
        .with_from(me)
        .with_to(me)
        .with_value(U256::ZERO)
        .with_nonce(tx.nonce())
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(tx.max_fee_per_gas())
        .with_max_priority_fee_per_gas(tx.max_priority_fee_per_gas().unwrap_or_default());
    p.send_transaction(other)
        .await
        .expect("the other process's transaction is accepted")
        .get_receipt()
        .await
        .expect("and mined");
}

/// The node dies: state dumped, listener closed; after `down_for` a new anvil with that state takes the port.
async fn crash(inner: &Arc<Inner>, down_for: Duration) {
    inner.down.store(true, Ordering::SeqCst);
    if let Some(h) = inner.server.lock().expect("lock").take() {
        h.abort();
    }
    let old = inner.upstream.lock().expect("lock").clone();
    let p = ProviderBuilder::new().connect_http(old.parse().expect("url"));
    let state: Bytes = p
        .raw_request("anvil_dumpState".into(), ())
        .await
        .expect("dump the state at the crash");
    let inner = inner.clone();
    tokio::spawn(async move {
        tokio::time::sleep(down_for).await;
        let anvil = crate::spawn_anvil(0, 1, 0).expect("restart anvil");
        let p = ProviderBuilder::new().connect_http(anvil.endpoint().parse().expect("url"));
        let loaded: bool = p
            .raw_request("anvil_loadState".into(), (state,))
            .await
            .expect("load the dumped state");
        assert!(loaded, "anvil_loadState");
        *inner.upstream.lock().expect("lock") = anvil.endpoint();
        *inner.restarted.lock().expect("lock") = Some(anvil);
        let listener = TcpListener::bind(("127.0.0.1", inner.port))
            .await
            .expect("the proxy port is free again");
        inner.down.store(false, Ordering::SeqCst);
        let h = tokio::spawn(accept_loop(listener, inner.clone()));
        *inner.server.lock().expect("lock") = Some(h);
    });
}
