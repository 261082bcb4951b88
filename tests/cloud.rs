//! The cloud routes of the Studio (docs/protocol.md §14) over real HTTP on 127.0.0.1, against a fake
//! cloud that records every request. One test per docs/protocol.md §18 case (named `case_NN_…`),
//! plus the places where arkor tui deliberately does better than the reference.

mod cloud {
    mod dashboard;
    mod fake;
    mod harness;
    mod node_fake;

    mod cancel;
    mod chat;
    mod deployments;
    mod guarded;
    mod identity;
    mod job_events;
    mod passthrough;
    mod reference;
    mod shared_fake_cloud;
    mod shared_fake_views;
    mod startup;
    mod stop;
    mod tui_endpoints;
    mod tui_jobs;
}
