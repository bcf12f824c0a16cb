//! The rules themselves, as `nftables` crate objects: the table's skeleton (base chains and the
//! `ports` chain), the per-network rules and the per-container DNAT rules.
//!
//! Every rule that belongs to a network or to a container carries a comment naming its owner
//! ([`network_tag`], [`ports_tag`]); removal deletes exactly the rules with that comment, by
//! handle, so nothing else in the table is touched.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::Ipv4Addr;

use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, CT,
};
use nftables::schema::{Chain, NfListObject, Rule, Table};
use nftables::stmt::{JumpTarget, Match, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::{NetworkRules, PortRule};

/// Regular chain holding one DNAT rule per published port; the prerouting and output base
/// chains jump to it for packets addressed to one of the host's own addresses.
pub(crate) const PORTS_CHAIN: &str = "ports";
pub(crate) const PREROUTING: &str = "prerouting";
pub(crate) const OUTPUT: &str = "output";
pub(crate) const POSTROUTING: &str = "postrouting";
pub(crate) const FORWARD: &str = "forward";
/// Base chain on the forward hook just before `forward`: what may enter each bridge. Its
/// accepts only end this chain (the packet goes on to `forward`); its drops are final.
pub(crate) const ISOLATE: &str = "isolate";

/// Netfilter's standard priorities (`dstnat`, `srcnat`, `filter`) as numbers, which is what the
/// JSON schema takes.
const PRIO_DSTNAT: i32 = -100;
const PRIO_SRCNAT: i32 = 100;
const PRIO_FILTER: i32 = 0;

/// The comment carried by every rule of network `name`.
pub fn network_tag(name: &str) -> String {
    format!("berth net {name}")
}

/// The comment carried by every port rule of container (or any other owner) `owner`.
pub fn ports_tag(owner: &str) -> String {
    format!("berth ports {owner}")
}

pub(crate) fn table(name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::IP,
        name: Cow::Owned(name.to_string()),
        handle: None,
    })
}

fn base_chain(
    table: &str,
    name: &'static str,
    kind: NfChainType,
    hook: NfHook,
    prio: i32,
) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        name: Cow::Borrowed(name),
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        // Accept: this table only adds NAT and the rules of berth's own bridges; it must not
        // change the fate of the host's other traffic.
        policy: Some(NfChainPolicy::Accept),
        ..Default::default()
    })
}

/// Every chain of the table, base chains first.
pub(crate) fn chains(table: &str) -> Vec<NfListObject<'static>> {
    vec![
        base_chain(
            table,
            PREROUTING,
            NfChainType::NAT,
            NfHook::Prerouting,
            PRIO_DSTNAT,
        ),
        base_chain(table, OUTPUT, NfChainType::NAT, NfHook::Output, PRIO_DSTNAT),
        base_chain(
            table,
            POSTROUTING,
            NfChainType::NAT,
            NfHook::Postrouting,
            PRIO_SRCNAT,
        ),
        base_chain(
            table,
            ISOLATE,
            NfChainType::Filter,
            NfHook::Forward,
            PRIO_FILTER - 1,
        ),
        base_chain(
            table,
            FORWARD,
            NfChainType::Filter,
            NfHook::Forward,
            PRIO_FILTER,
        ),
        chain_ref(table, PORTS_CHAIN),
    ]
}

/// A chain named without type or hook: enough to create a regular chain or to flush any.
pub(crate) fn chain_ref(table: &str, name: &'static str) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        name: Cow::Borrowed(name),
        ..Default::default()
    })
}

/// The fixed rules of the base chains prerouting and output: packets addressed to one of the
/// host's own addresses (any interface, 127.0.0.1 included) go through the `ports` chain.
pub(crate) fn skeleton_rules(table: &str) -> Vec<NfListObject<'static>> {
    [PREROUTING, OUTPUT]
        .into_iter()
        .map(|chain| {
            rule(
                table,
                chain,
                None,
                vec![
                    matches(
                        Expression::Named(NamedExpression::Fib(Fib {
                            result: FibResult::Type,
                            flags: HashSet::from([FibFlag::Daddr]),
                        })),
                        Operator::EQ,
                        string("local"),
                    ),
                    Statement::Jump(JumpTarget {
                        target: Cow::Borrowed(PORTS_CHAIN),
                    }),
                ],
            )
        })
        .collect()
}

/// The rules of one network (see [`NetworkRules`] for what they do).
pub(crate) fn network_rules(table: &str, net: &NetworkRules) -> Vec<NfListObject<'static>> {
    let tag = Some(network_tag(&net.name));
    let bridge = || string(&net.bridge);
    let from_bridge = || matches(meta(MetaKey::Iifname), Operator::EQ, bridge());
    let to_bridge = || matches(meta(MetaKey::Oifname), Operator::EQ, bridge());
    let r =
        |chain: &'static str, expr: Vec<Statement<'static>>| rule(table, chain, tag.clone(), expr);
    if net.internal {
        // No masquerade, and nothing crosses the bridge's boundary in either direction;
        // traffic between its containers stays on the bridge (layer 2) and is not affected.
        return vec![
            r(
                FORWARD,
                vec![
                    from_bridge(),
                    matches(meta(MetaKey::Oifname), Operator::NEQ, bridge()),
                    Statement::Drop(None),
                ],
            ),
            r(
                FORWARD,
                vec![
                    to_bridge(),
                    matches(meta(MetaKey::Iifname), Operator::NEQ, bridge()),
                    Statement::Drop(None),
                ],
            ),
        ];
    }
    let subnet = || {
        matches(
            payload("ip", "saddr"),
            Operator::EQ,
            prefix(net.subnet, net.prefix_len),
        )
    };
    let dnat_done = || matches(ct("status"), Operator::IN, string("dnat"));
    vec![
        // Containers going anywhere but their own bridge leave with the host's address.
        r(
            POSTROUTING,
            vec![
                subnet(),
                matches(meta(MetaKey::Oifname), Operator::NEQ, bridge()),
                Statement::Masquerade(None),
            ],
        ),
        // Hairpin: a container reaching a published port (its own or a neighbour's) comes back
        // onto the bridge; without this the answer would bypass the DNAT's reverse translation.
        r(
            POSTROUTING,
            vec![
                subnet(),
                to_bridge(),
                dnat_done(),
                Statement::Masquerade(None),
            ],
        ),
        // The host reaching a published port over 127.0.0.1: after DNAT in output the packet
        // still has a loopback source, which the container could not answer. Routing it onto
        // the bridge at all needs route_localnet=1 there (see `enable_route_localnet`).
        r(
            POSTROUTING,
            vec![
                matches(
                    payload("ip", "saddr"),
                    Operator::EQ,
                    prefix(Ipv4Addr::new(127, 0, 0, 0), 8),
                ),
                to_bridge(),
                Statement::Masquerade(None),
            ],
        ),
        // What may enter the bridge, decided in `isolate` whatever the order networks were
        // added in: replies, published ports (DNATed), and its own containers' traffic. New
        // connections from anywhere else (another host, or another network's bridge: networks
        // are isolated from each other as Docker's are) are dropped.
        r(
            ISOLATE,
            vec![
                to_bridge(),
                matches(
                    ct("state"),
                    Operator::IN,
                    Expression::List(vec![string("established"), string("related")]),
                ),
                Statement::Accept(None),
            ],
        ),
        r(
            ISOLATE,
            vec![to_bridge(), from_bridge(), Statement::Accept(None)],
        ),
        r(
            ISOLATE,
            vec![to_bridge(), dnat_done(), Statement::Accept(None)],
        ),
        r(ISOLATE, vec![to_bridge(), Statement::Drop(None)]),
        // Whatever the bridge's containers send (the isolate chain has had its say on where
        // it may go).
        r(FORWARD, vec![from_bridge(), Statement::Accept(None)]),
    ]
}

/// The DNAT rules of one owner's published ports, all in the `ports` chain.
pub(crate) fn port_rules(
    table: &str,
    owner: &str,
    ports: &[PortRule],
) -> Vec<NfListObject<'static>> {
    let tag = Some(ports_tag(owner));
    ports
        .iter()
        .map(|p| {
            let proto = p.proto.name();
            let mut expr = Vec::new();
            if !p.host_ip.is_unspecified() {
                expr.push(matches(
                    payload("ip", "daddr"),
                    Operator::EQ,
                    string(&p.host_ip.to_string()),
                ));
            }
            expr.push(matches(
                payload(proto, "dport"),
                Operator::EQ,
                Expression::Number(u32::from(p.host_port)),
            ));
            expr.push(Statement::DNAT(Some(NAT {
                addr: Some(string(&p.container_ip.to_string())),
                family: None,
                port: Some(Expression::Number(u32::from(p.container_port))),
                flags: None,
            })));
            rule(table, PORTS_CHAIN, tag.clone(), expr)
        })
        .collect()
}

fn rule(
    table: &str,
    chain: &'static str,
    comment: Option<String>,
    expr: Vec<Statement<'static>>,
) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        chain: Cow::Borrowed(chain),
        expr: Cow::Owned(expr),
        comment: comment.map(Cow::Owned),
        ..Default::default()
    })
}

/// A rule reference by handle, for deletion.
pub(crate) fn rule_handle(table: &str, chain: String, handle: u32) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Owned(table.to_string()),
        chain: Cow::Owned(chain),
        handle: Some(handle),
        ..Default::default()
    })
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn string(s: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(s.to_string()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed(key),
        family: None,
        dir: None,
    }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn prefix(addr: Ipv4Addr, len: u8) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(string(&addr.to_string())),
        len: u32::from(len),
    }))
}
