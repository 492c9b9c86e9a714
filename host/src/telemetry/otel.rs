//! OpenTelemetry traces of a run, sent over OTLP (HTTP, protobuf) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set: a root
//! span for the process, a span for each module function call (a call into a dependency
//! under its caller) and one for each step (under the call that was running), made
//! from the engine's progress events. Without either variable nothing is set up.
//!
//! The opentelemetry API is used directly rather than through tracing-opentelemetry: the
//! spans are the progress events' (ids, depths, outcomes reported by the engine), not
//! `tracing` spans, and the parent from `TRACEPARENT` needs the propagator either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::engine::{Event, Progress, StepOutcome};

/// The variables that turn tracing on.
const ENDPOINT_VARIABLES: [&str; 2] = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"];

/// The most of a step's description a span carries (a command can be a whole script).
const MAX_DESCRIPTION: usize = 1024;
/// The most of a step's description a span's name carries.
const MAX_NAME: usize = 80;

static TRACES: OnceLock<Arc<Traces>> = OnceLock::new();

struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    open: Mutex<Open>,
}

/// The spans not ended yet.
#[derive(Default)]
struct Open {
    /// The process's span, the parent of the calls; ended at [`shutdown`].
    root: Option<Context>,
    /// Calls running, in the order they started, with their depth.
    calls: Vec<(u64, u32, Context)>,
    /// Steps running (a step answered from the cache never starts: its span is made
    /// when it finishes).
    steps: HashMap<u64, Context>,
}

/// Sets up the exporter when an endpoint variable is set. Called before the async
/// runtime starts: the exporter's blocking HTTP client has a runtime of its own, which
/// must not be made inside another.
pub fn init() {
    if !ENDPOINT_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
    {
        return;
    }
    if let Ok(protocol) = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
        && !protocol.is_empty()
        && protocol != "http/protobuf"
    {
        tracing::warn!("OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported: tanto sends traces over http/protobuf");
    }
    // The endpoint, headers and timeout are read from the OTEL_EXPORTER_OTLP_* variables.
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            tracing::warn!("traces are not sent: cannot set up the OTLP exporter: {error}");
            return;
        }
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("tanto")
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    // A CI system's trace contains tanto's: its span is the root's parent.
    let parent = match std::env::var("TRACEPARENT") {
        Ok(traceparent) => {
            let mut carrier = HashMap::from([("traceparent".to_string(), traceparent.trim().to_string())]);
            if let Ok(tracestate) = std::env::var("TRACESTATE") {
                carrier.insert("tracestate".to_string(), tracestate);
            }
            let parent = TraceContextPropagator::new().extract(&carrier);
            if !parent.span().span_context().is_valid() {
                tracing::warn!("TRACEPARENT is not a W3C traceparent (00-<trace id>-<span id>-<flags>): tanto's trace starts a new one");
            }
            parent
        }
        Err(_) => Context::new(),
    };
    let _ = TRACES.set(Arc::new(Traces::start(provider, &parent)));
}

impl Traces {
    /// Starts the root span, under `parent`.
    fn start(provider: SdkTracerProvider, parent: &Context) -> Self {
        let tracer = provider.tracer("tanto");
        let root = parent.with_span(tracer.start_with_context("tanto", parent));
        Self {
            provider,
            tracer,
            open: Mutex::new(Open {
                root: Some(root),
                ..Default::default()
            }),
        }
    }

    /// Ends the spans still open: as failed, but the root, failed when `succeeded` is not.
    fn end_all(&self, succeeded: bool) {
        let Ok(mut open) = self.open.lock() else { return };
        let unfinished = Status::error("unfinished: tanto stopped");
        for (_, context) in open.steps.drain() {
            end(&context, Some(unfinished.clone()));
        }
        while let Some((_, _, context)) = open.calls.pop() {
            end(&context, Some(unfinished.clone()));
        }
        if let Some(root) = open.root.take() {
            end(&root, (!succeeded).then(|| Status::error("the command failed")));
        }
    }
}

/// `display` and, when traces are sent, the spans made from the same events.
pub fn traced(display: Arc<dyn Progress>) -> Arc<dyn Progress> {
    match TRACES.get() {
        Some(traces) => Arc::new(Traced {
            display,
            traces: traces.clone(),
        }),
        None => display,
    }
}

/// Ends the spans still open (as failed, but the root, failed when `succeeded` is not)
/// and sends every span before the process exits.
pub fn shutdown(succeeded: bool) {
    let Some(traces) = TRACES.get() else { return };
    traces.end_all(succeeded);
    if let Err(error) = traces.provider.shutdown() {
        tracing::warn!("cannot send the traces: {error}");
    }
}

fn end(context: &Context, error: Option<Status>) {
    let span = context.span();
    if let Some(status) = error {
        span.set_status(status);
    }
    span.end();
}

/// The first `max` bytes of `text` (at a character boundary), scrubbed of secret values.
fn bounded(text: &str, max: usize) -> String {
    let text = crate::secrets::scrub(text);
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

struct Traced {
    display: Arc<dyn Progress>,
    traces: Arc<Traces>,
}

impl Traced {
    fn record(&self, event: &Event<'_>) {
        let Ok(mut open) = self.traces.open.lock() else { return };
        let Some(root) = open.root.clone() else { return };
        let tracer = &self.traces.tracer;
        // A step belongs to the newest call still running.
        let current_call = |open: &Open| open.calls.last().map(|(_, _, context)| context.clone()).unwrap_or(root.clone());
        let step_span = |description: &str, parent: &Context, start: SystemTime| {
            let span = tracer
                .span_builder(bounded(description, MAX_NAME))
                .with_start_time(start)
                .with_attributes([KeyValue::new("tanto.step.description", bounded(description, MAX_DESCRIPTION))])
                .start_with_context(tracer, parent);
            parent.with_span(span)
        };
        match *event {
            Event::CallStarted { id, name, depth } => {
                let parent = open
                    .calls
                    .iter()
                    .rev()
                    .find(|(_, caller_depth, _)| caller_depth + 1 == depth)
                    .map(|(_, _, context)| context.clone())
                    .unwrap_or(root);
                let span = tracer
                    .span_builder(bounded(name, MAX_NAME))
                    .with_attributes([KeyValue::new("tanto.call.depth", i64::from(depth))])
                    .start_with_context(tracer, &parent);
                open.calls.push((id, depth, parent.with_span(span)));
            }
            Event::CallFinished { id, ref outcome, .. } => {
                if let Some(index) = open.calls.iter().position(|(call, _, _)| *call == id) {
                    let (_, _, context) = open.calls.remove(index);
                    end(&context, matches!(outcome, StepOutcome::Failed(_)).then(|| Status::error("the call failed")));
                }
            }
            Event::StepStarted { id, description } => {
                let parent = current_call(&open);
                let context = step_span(description, &parent, SystemTime::now());
                open.steps.insert(id, context);
            }
            Event::StepQueued { .. } | Event::StepOutput { .. } => {}
            Event::StepFinished {
                id,
                description,
                ref outcome,
                key,
                exit_code,
                ..
            } => {
                let context = match open.steps.remove(&id) {
                    Some(context) => context,
                    None => step_span(description, &current_call(&open), SystemTime::now()),
                };
                let span = context.span();
                span.set_attribute(KeyValue::new("tanto.step.cached", matches!(outcome, StepOutcome::Cached)));
                if let Some(key) = key {
                    span.set_attribute(KeyValue::new("tanto.step.key", key.to_string()));
                }
                if let Some(code) = exit_code {
                    span.set_attribute(KeyValue::new("tanto.step.exit_code", code));
                }
                end(&context, matches!(outcome, StepOutcome::Failed(_)).then(|| Status::error("the step failed")));
            }
        }
    }
}

impl Progress for Traced {
    fn event(&self, event: Event<'_>) {
        self.record(&event);
        self.display.event(event);
    }

    fn suspend(&self, suspended: bool) {
        self.display.suspend(suspended);
    }

    fn finish(&self) {
        self.display.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};

    use super::*;
    use crate::engine::{Digest, NoProgress};

    /// Keeps the spans exported, to look at them.
    #[derive(Clone, Debug, Default)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Kept {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    #[test]
    fn calls_nest_under_their_caller_and_steps_under_the_running_call() {
        let kept = Kept::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(kept.clone()).build();
        let traces = Arc::new(Traces::start(provider, &Context::new()));
        let traced = Traced {
            display: Arc::new(NoProgress),
            traces: traces.clone(),
        };
        let key: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        traced.event(Event::CallStarted {
            id: 1,
            name: "build",
            depth: 0,
        });
        traced.event(Event::CallStarted {
            id: 2,
            name: "lib.compile",
            depth: 1,
        });
        traced.event(Event::StepStarted { id: 1, description: "make" });
        traced.event(Event::StepFinished {
            id: 1,
            description: "make",
            outcome: StepOutcome::Done(Duration::from_millis(5)),
            log: None,
            key: Some(&key),
            exit_code: Some(0),
        });
        traced.event(Event::CallFinished {
            id: 2,
            name: "lib.compile",
            depth: 1,
            outcome: StepOutcome::Done(Duration::from_millis(6)),
        });
        // Answered from the cache: finished without a start, under the caller again.
        traced.event(Event::StepFinished {
            id: 2,
            description: "test",
            outcome: StepOutcome::Cached,
            log: None,
            key: Some(&key),
            exit_code: Some(0),
        });
        // Left open: ended, as failed, when tanto stops.
        traced.event(Event::StepStarted { id: 3, description: "deploy" });
        traces.end_all(false);

        let spans = kept.0.lock().unwrap().clone();
        let span = |name: &str| spans.iter().find(|span| span.name == name).unwrap_or_else(|| panic!("{name}: {spans:?}"));
        let id = |name: &str| span(name).span_context.span_id();
        assert_eq!(span("build").parent_span_id, id("tanto"));
        assert_eq!(span("lib.compile").parent_span_id, id("build"));
        assert_eq!(span("make").parent_span_id, id("lib.compile"));
        assert_eq!(span("test").parent_span_id, id("build"));
        assert_eq!(span("deploy").parent_span_id, id("build"));
        let attribute = |name: &str, key: &str| {
            span(name)
                .attributes
                .iter()
                .find(|attribute| attribute.key.as_str() == key)
                .map(|attribute| attribute.value.clone())
        };
        assert_eq!(attribute("make", "tanto.step.cached"), Some(false.into()));
        assert_eq!(attribute("test", "tanto.step.cached"), Some(true.into()));
        assert_eq!(attribute("make", "tanto.step.key"), Some(key.to_string().into()));
        assert!(matches!(span("deploy").status, Status::Error { .. }));
        assert!(matches!(span("tanto").status, Status::Error { .. }));
        assert_eq!(span("make").status, Status::Unset);
    }
}
