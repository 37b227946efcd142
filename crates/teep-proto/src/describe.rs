//! One-line summaries of messages for logs and the CLI transcript. Tokens appear only as their
//! 4-byte prefix; payloads, evidence and manifests only as sizes.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::message::Message;

/// Summarizes `msg`: its type and key fields, e.g.
/// `QueryRequest token=a0a1a2a3… data-item-requested=attestation|trusted-components
/// suites=[[18,-9]] [[18,-19]] versions=[0]`.
pub fn describe(msg: &Message) -> String {
    let mut out = String::from(msg.kind().name().unwrap_or("message"));
    if let Some(t) = msg.token() {
        let _ = write!(out, " token={t}");
    }
    match msg {
        Message::QueryRequest(m) => {
            let _ = write!(out, " data-item-requested={}", m.data_item_requested.names());
            let suites: Vec<String> =
                m.supported_teep_cipher_suites.iter().map(|s| format!("{s}")).collect();
            let _ = write!(out, " suites={}", suites.join(" "));
            if let Some(c) = &m.challenge {
                let _ = write!(out, " challenge={}B", c.len());
            }
            if let Some(v) = &m.versions {
                let _ = write!(out, " versions={v:?}");
            }
        }
        Message::QueryResponse(m) => {
            if let Some(v) = m.selected_version {
                let _ = write!(out, " selected-version={v}");
            }
            if let Some(p) = &m.attestation_payload {
                let _ = write!(out, " attestation-payload={}B", p.len());
            }
            if let Some(l) = &m.tc_list {
                let _ = write!(out, " tc-list={}", l.len());
            }
            if let Some(l) = &m.requested_tc_list {
                let ids: Vec<String> = l.iter().map(|i| format!("{}", i.component_id)).collect();
                let _ = write!(out, " requested-tc-list={}", ids.join(" "));
            }
            if let Some(l) = &m.unneeded_manifest_list {
                let _ = write!(out, " unneeded-manifest-list={}", l.len());
            }
        }
        Message::Update(m) => {
            if let Some(l) = &m.manifest_list {
                let sizes: Vec<String> = l.iter().map(|e| format!("{}B", e.len())).collect();
                let _ = write!(out, " manifest-list=[{}]", sizes.join(","));
            }
            if let Some(l) = &m.unneeded_manifest_list {
                let _ = write!(out, " unneeded-manifest-list={}", l.len());
            }
            if let Some(c) = m.err_code {
                let _ = write!(out, " err-code={c}");
            }
        }
        Message::Success(m) => {
            if let Some(r) = &m.suit_reports {
                let _ = write!(out, " suit-reports={}", r.len());
            }
            if let Some(text) = &m.msg {
                let _ = write!(out, " msg={text:?}");
            }
        }
        Message::Error(m) => {
            let _ = write!(out, " err-code={}", m.err_code);
            if let Some(text) = &m.err_msg {
                let _ = write!(out, " err-msg={text:?}");
            }
            if let Some(r) = &m.suit_reports {
                let _ = write!(out, " suit-reports={}", r.len());
            }
        }
    }
    out
}
