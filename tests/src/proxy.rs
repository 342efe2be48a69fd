//! A userspace TCP proxy between devices and the server (the kernel here has no `netem`): it
//! counts the bytes crossing each way, and can cut the connection once a given number of bytes
//! has crossed, to test syncs cut at any point.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Device to server.
    pub up: u64,
    /// Server to device.
    pub down: u64,
    pub connections: u64,
}

#[derive(Debug, Default)]
struct State {
    counts: Counts,
    /// Cut the connection carrying the byte at which `up`/`down` reaches this total.
    cut_up_at: Option<u64>,
    cut_down_at: Option<u64>,
    cuts: u64,
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        Proxy::balance(vec![upstream])
    }

    /// A load balancer in front of several server instances: each new connection goes to the
    /// next instance in turn; one that refuses the connection (stopped, killed) is skipped.
    pub fn balance(upstreams: Vec<SocketAddr>) -> Proxy {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let connect = move || {
            for _ in 0..upstreams.len() {
                let i = next.fetch_add(1, Ordering::SeqCst) % upstreams.len();
                if let Ok(stream) = TcpStream::connect(upstreams[i]) {
                    return Some(stream);
                }
            }
            None
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Some(server) = connect() else { continue };
                s.lock().unwrap().counts.connections += 1;
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let pair = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let s1 = s.clone();
                std::thread::spawn(move || pump(client, server, &s1, true));
                let s2 = s.clone();
                std::thread::spawn(move || pump(pair.1, pair.0, &s2, false));
            }
        });
        Proxy { addr, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn counts(&self) -> Counts {
        self.state.lock().unwrap().counts
    }

    pub fn reset_counts(&self) {
        self.state.lock().unwrap().counts = Counts::default();
    }

    /// Cuts the connection once `bytes` more bytes have gone from the server to the device.
    pub fn cut_down_after(&self, bytes: u64) {
        let mut s = self.state.lock().unwrap();
        s.cut_down_at = Some(s.counts.down + bytes);
    }

    /// Cuts the connection once `bytes` more bytes have gone from the device to the server.
    pub fn cut_up_after(&self, bytes: u64) {
        let mut s = self.state.lock().unwrap();
        s.cut_up_at = Some(s.counts.up + bytes);
    }

    /// How many cuts happened.
    pub fn cuts(&self) -> u64 {
        self.state.lock().unwrap().cuts
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, state: &Mutex<State>, up: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed = {
            let mut s = state.lock().unwrap();
            let (total, cut) = if up { (s.counts.up, s.cut_up_at) } else { (s.counts.down, s.cut_down_at) };
            let allowed = match cut {
                Some(at) if total + n as u64 >= at => Some((at.saturating_sub(total)) as usize),
                _ => None,
            };
            let sent = allowed.unwrap_or(n) as u64;
            if up {
                s.counts.up += sent;
            } else {
                s.counts.down += sent;
            }
            if allowed.is_some() {
                if up {
                    s.cut_up_at = None;
                } else {
                    s.cut_down_at = None;
                }
                s.cuts += 1;
            }
            allowed
        };
        match allowed {
            Some(k) => {
                let _ = to.write_all(&buf[..k]);
                break;
            }
            None => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
