//! Network events: `connect`, `bind`, `accept` (`IPPORT(<ev>.addr)`), `dns` and `imds`.

use crate::event::{EventData, EventType as T};
use crate::events::DnsAnswer;
use crate::fields::builder::Builder;
use crate::fields::declare::fields;
use crate::fields::FieldScope;

pub(super) fn declare(b: &mut Builder) {
    for t in [T::Connect, T::Bind, T::Accept] {
        let (scope, p) = (FieldScope::Event(t), t.as_str());
        fields!(b, scope, EventData::Connect(x) | EventData::Bind(x) | EventData::Accept(x) => {
            format!("{p}.addr.ip"), Ip => x.addr.ip;
            format!("{p}.addr.port"), Int => x.addr.port;
            format!("{p}.addr.family"), Int => x.addr.family;
            format!("{p}.addr.is_public"), Bool @ computed => x.addr.is_public();
            format!("{p}.protocol"), Int => x.protocol;
        });
        // A bound address has no name to resolve.
        if t != T::Bind {
            fields!(b, scope, EventData::Connect(x) | EventData::Bind(x) | EventData::Accept(x) => {
                format!("{p}.addr.hostname"), Strs | LENGTH | CASE_INSENSITIVE => &x.addr.hostname;
            });
        }
    }
    // Rampart addition: `dns.response.answers.*`, the answer section of a response, one value per answer.
    fn answers(x: &crate::events::DnsEvent) -> &[DnsAnswer] {
        x.response.as_ref().map_or(&[], |r| r.answers.as_slice())
    }
    fields!(b, FieldScope::Event(T::Dns), EventData::Dns(x) => {
        "dns.id", Int => x.id;
        "dns.question.name", Str | CASE_INSENSITIVE | LENGTH => &x.question.name;
        "dns.question.type", Int => x.question.qtype;
        "dns.question.class", Int => x.question.class;
        "dns.question.length", Int => x.question.length;
        "dns.question.count", Int => x.question.count;
        "dns.response.code", Int => x.response.as_ref().map_or(0, |r| r.code);
        "dns.response.answers.name", Strs | CASE_INSENSITIVE => answers(x).iter().map(|a| &a.name);
        "dns.response.answers.type", Ints => answers(x).iter().map(|a| a.rtype);
        "dns.response.answers.address", Ips => answers(x).iter().filter_map(|a| a.address);
        "dns.response.answers.target", Strs | CASE_INSENSITIVE => answers(x).iter().map(|a| &a.target);
    });
    fields!(b, FieldScope::Event(T::Imds), EventData::Imds(x) => {
        "imds.type", Str => &x.imds_type;
        "imds.cloud_provider", Str => &x.cloud_provider;
        "imds.url", Str => &x.url;
        "imds.host", Str => &x.host;
        "imds.user_agent", Str => &x.user_agent;
        "imds.server", Str => &x.server;
        "imds.aws.is_imds_v2", Bool => x.aws.is_imds_v2;
        "imds.aws.security_credentials.type", Str => &x.aws.security_credentials.cred_type;
    });
}
