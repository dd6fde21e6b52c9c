//! A small authoritative DNS server on 127.0.0.1 (UDP, an ephemeral port) for tests: TXT, MX
//! and CNAME records from a table the test changes while it runs. Answers carry TTL 0; a name
//! the table does not have is NXDOMAIN; CNAMEs are followed within the table, as an
//! authoritative server does for names of its own zone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

#[derive(Debug, Clone)]
pub enum Rec {
    Txt(String),
    Mx(u16, String),
    Cname(String),
}

#[derive(Clone)]
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Arc<Mutex<HashMap<String, Vec<Rec>>>>,
}

const TXT: u16 = 16;
const MX: u16 = 15;
const CNAME: u16 = 5;

impl DnsServer {
    pub async fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = DnsServer {
            addr: socket.local_addr().unwrap(),
            zone: Default::default(),
        };
        let me = server.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                if let Some(reply) = me.answer(&buf[..n]) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        server
    }

    /// Replaces the records of `name`.
    pub fn set(&self, name: &str, records: Vec<Rec>) {
        self.zone
            .lock()
            .unwrap()
            .insert(name.trim_end_matches('.').to_ascii_lowercase(), records);
    }

    pub fn remove(&self, name: &str) {
        self.zone
            .lock()
            .unwrap()
            .remove(&name.trim_end_matches('.').to_ascii_lowercase());
    }

    fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        if query.len() < 12 {
            return None;
        }
        // The question: labels, then type and class.
        let mut i = 12;
        let mut labels = Vec::new();
        loop {
            let len = *query.get(i)? as usize;
            i += 1;
            if len == 0 {
                break;
            }
            labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
            i += len;
        }
        let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
        let question = &query[12..i + 4];
        let name = labels.join(".");
        let zone = self.zone.lock().unwrap();
        let mut answers: Vec<(Option<String>, u16, Vec<u8>)> = Vec::new();
        let mut current = name.clone();
        let mut owner: Option<String> = None; // None: the question's name (a pointer)
        let mut found = zone.contains_key(&current);
        for _ in 0..8 {
            let Some(records) = zone.get(&current) else {
                break;
            };
            let cname = records.iter().find_map(|r| match r {
                Rec::Cname(t) => Some(t.trim_end_matches('.').to_ascii_lowercase()),
                _ => None,
            });
            match cname {
                Some(target) if qtype != CNAME => {
                    answers.push((owner.clone(), CNAME, encode_name(&target)));
                    owner = Some(target.clone());
                    current = target;
                    found = true;
                }
                _ => {
                    for r in records {
                        match (r, qtype) {
                            (Rec::Txt(t), TXT) => {
                                let mut data = Vec::new();
                                for chunk in t.as_bytes().chunks(255) {
                                    data.push(chunk.len() as u8);
                                    data.extend_from_slice(chunk);
                                }
                                answers.push((owner.clone(), TXT, data));
                            }
                            (Rec::Mx(pref, host), MX) => {
                                let mut data = pref.to_be_bytes().to_vec();
                                data.extend(encode_name(host));
                                answers.push((owner.clone(), MX, data));
                            }
                            (Rec::Cname(t), CNAME) => {
                                answers.push((owner.clone(), CNAME, encode_name(t)));
                            }
                            _ => {}
                        }
                    }
                    break;
                }
            }
        }
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&query[0..2]);
        let rd = query[2] & 1;
        out.push(0x84 | rd); // QR, AA, RD as asked
        out.push(if found { 0 } else { 3 }); // NOERROR or NXDOMAIN
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(question);
        for (owner, kind, data) in answers {
            match owner {
                None => out.extend_from_slice(&[0xC0, 0x0C]),
                Some(o) => out.extend(encode_name(&o)),
            }
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&1u16.to_be_bytes());
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend(data);
        }
        Some(out)
    }
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}
