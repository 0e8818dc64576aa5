//! `cargo bench -p berth-backendai --bench cluster_apps -- SESSION APP [ROUNDS]`: the window's
//! side of `scripts/bench-cluster-apps` — what a click on an app in a session's details costs,
//! logged in already as the window is: from asking for the forward (session looked up, its
//! apps read, the probe connection, the listener) to the first HTTP answer through it. Logs in
//! with the official client's environment; prints one JSON line (seconds, each round).
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(session), Some(app)) = (args.first().cloned(), args.get(1).cloned()) else {
        eprintln!("usage: cluster_apps SESSION APP [ROUNDS]");
        return ExitCode::FAILURE;
    };
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let engine = support::engine_like_the_client().await?;
        let mut seconds = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let forward = engine
                .open_app(&session, &app, None)
                .await
                .map_err(|e| e.to_string())?;
            let address = forward.local;
            let answered = tokio::task::spawn_blocking(move || {
                let mut stream = std::net::TcpStream::connect(address)?;
                stream.write_all(b"GET /small HTTP/1.0\r\n\r\n")?;
                let mut first = [0u8; 12];
                stream.read_exact(&mut first)?;
                Ok::<_, std::io::Error>(first.starts_with(b"HTTP/1."))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            if !answered {
                return Err("no HTTP answer through the forward".to_owned());
            }
            seconds.push(started.elapsed().as_secs_f64());
        }
        Ok::<_, String>(serde_json::json!({ "click_to_answer_s": seconds }))
    });
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("bench-cluster-apps: {message}");
            ExitCode::FAILURE
        }
    }
}
