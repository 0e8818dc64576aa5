//! Sessions on the real manager: environments and limits from the cluster, mounts as the
//! manager records them (read from its database, since a user's API shows folder names only),
//! aliases refused before any request, and destroy. The peer's dummy agent runs no code, so
//! nothing here looks inside a session.

use berth_core::{
    Engine, EnvVar, EnvironmentKind, ErrorCode, MountAccess, MountRequest, NewFolder, NewSession,
    ResourceRequest, SessionPlacement, SessionStatus,
};

use crate::*;

const IMAGE: &str = "cr.backend.ai/stable/python:3.9-ubuntu20.04";

/// Sessions and folders a test made, destroyed and purged when it ends, failed or not: a
/// failing assertion must not leave a session holding the peer's resources, or an automount
/// folder that every later session would mount.
/// Destroys the sessions and purges the folders a test made, when it ends, pass or fail.
#[derive(Default)]
pub(crate) struct Cleanup {
    pub(crate) sessions: Vec<String>,
    pub(crate) folders: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let sessions = std::mem::take(&mut self.sessions);
        let folders = std::mem::take(&mut self.folders);
        // The test's own runtime is the one being dropped from; this gets its own.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let engine = engine().await;
                for session in &sessions {
                    if let Err(error) = engine.destroy_session(session).await {
                        eprintln!("cleanup: session {session}: {error}");
                    }
                }
                // A folder cannot be deleted while a session being destroyed still mounts it;
                // left behind, a dot folder would be mounted into every later session on a
                // peer that outlives the run, so this waits for the session to let go.
                for folder in &folders {
                    let mut tries = 0;
                    loop {
                        let _ = engine.trash_folder(folder).await;
                        match engine.purge_folder(folder).await {
                            Ok(()) => break,
                            // Gone already (the test deleted it itself).
                            Err(error) if error.code == berth_core::ErrorCode::NotFound => break,
                            Err(_) if tries < 30 => {
                                tries += 1;
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            }
                            Err(error) => {
                                eprintln!("cleanup: folder {folder}: {error}");
                                break;
                            }
                        }
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

pub(crate) async fn folder(
    engine: &BackendAiEngine,
    cleanup: &mut Cleanup,
    name: String,
) -> String {
    engine.create_folder(NewFolder::named(&name)).await.unwrap();
    cleanup.folders.push(name.clone());
    name
}

#[tokio::test]
async fn environments_and_resource_limits_come_from_the_cluster() {
    let engine = engine().await;
    let environments = engine.list_environments().await.unwrap();
    assert!(!environments.is_empty());
    let python = environments
        .iter()
        .find(|e| e.id == IMAGE)
        .unwrap_or_else(|| panic!("the peer's image is listed: {environments:?}"));
    assert_eq!(python.kind, EnvironmentKind::Image);
    assert_eq!(python.name, "Python 3.9 (Ubuntu 20.04)");
    assert!(python.description.contains(IMAGE), "{python:?}");

    let limits = engine.resource_limits(&Default::default()).await.unwrap();
    assert!(limits.max_cpus >= 1, "{limits:?}");
    assert!(limits.max_memory_bytes >= 1 << 30, "{limits:?}");
    let note = limits.note.clone().unwrap();
    assert!(note.contains("\"default\""), "{note}");
    assert!(
        limits
            .presets
            .iter()
            .any(|p| p.name == "cpu01-small" && p.cpus == 1.0 && p.memory_bytes == 1 << 30),
        "the presets come as sizes: {limits:?}"
    );
}

#[tokio::test]
async fn placements_list_projects_and_their_groups_and_limits_follow_the_choice() {
    let engine = engine().await;
    let placements = engine.placements().await.unwrap();
    let default = placements
        .projects
        .iter()
        .find(|p| p.project == "default")
        .unwrap_or_else(|| panic!("the user's project: {placements:?}"));
    let names: Vec<&str> = default
        .resource_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert!(
        names.contains(&"default") && names.contains(&"podman"),
        "{names:?}"
    );
    assert_eq!(
        placements.default,
        SessionPlacement {
            project: Some("default".into()),
            resource_group: Some("default".into())
        }
    );
    // The dummy agent's group always has room (nothing runs there for long).
    let dummy = &default.resource_groups[names.iter().position(|n| *n == "default").unwrap()];
    assert!(
        dummy.free_cpus >= 1 && dummy.free_memory_bytes >= 1 << 30,
        "{dummy:?}"
    );

    let in_podman = SessionPlacement {
        project: Some("default".into()),
        resource_group: Some("podman".into()),
    };
    let limits = engine.resource_limits(&in_podman).await.unwrap();
    assert!(
        limits.note.as_deref().unwrap().contains("\"podman\""),
        "{limits:?}"
    );
    let refused = engine
        .resource_limits(&SessionPlacement {
            project: Some("default".into()),
            resource_group: Some("no-such-group".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::InvalidInput);
    assert!(
        refused.message.contains("\"podman\""),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn a_session_mounts_folders_at_their_aliases_read_only_where_asked_and_destroy_ends_it() {
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let input = folder(&engine, &mut cleanup, unique("bs-in")).await;
    let output = folder(&engine, &mut cleanup, unique("bs-out")).await;
    let dot = folder(&engine, &mut cleanup, format!(".{}", unique("bs-auto"))).await;
    let name = unique("bs-mnt");
    cleanup.sessions.push(name.clone());

    let created = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            resources: ResourceRequest {
                cpus: Some(1),
                memory_bytes: Some(512 << 20),
                scratch_bytes: None,
            },
            ..NewSession::interactive(
                IMAGE,
                vec![
                    MountRequest {
                        folder: input.clone(),
                        alias: Some("/data/in".into()),
                        access: Some(MountAccess::ReadOnly),
                    },
                    MountRequest {
                        folder: output.clone(),
                        alias: Some("results/run1".into()),
                        access: None,
                    },
                ],
            )
        })
        .await
        .unwrap();
    assert_eq!(created.status, SessionStatus::Running, "{created:?}");
    assert_eq!(created.name, name);
    assert_eq!(created.environment, IMAGE);
    let mount = |folder: &str| {
        created
            .mounts
            .iter()
            .find(|m| m.folder_name == folder)
            .unwrap_or_else(|| panic!("{folder} in {:?}", created.mounts))
            .clone()
    };
    let (in_mount, out_mount, dot_mount) = (mount(&input), mount(&output), mount(&dot));
    assert_eq!(
        (in_mount.target.as_str(), in_mount.read_only),
        ("/data/in", true)
    );
    assert_eq!(
        (out_mount.target.as_str(), out_mount.read_only),
        ("/home/work/results/run1", false)
    );
    assert_eq!(dot_mount.target, format!("/home/work/{dot}"));
    assert!(dot_mount.automount && !in_mount.automount && !out_mount.automount);

    // The manager's own record of the session: those folders, at those paths, ro and rw.
    let recorded: serde_json::Value = serde_json::from_str(&psql(&format!(
        "select vfolder_mounts from sessions where id = '{}'",
        created.id
    )))
    .unwrap();
    let record = |folder: &str| {
        let entry = recorded
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == folder)
            .unwrap_or_else(|| panic!("{folder} recorded in {recorded}"));
        (
            entry["kernel_path"].as_str().unwrap().to_owned(),
            entry["mount_perm"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(record(&input), ("/data/in".to_owned(), "ro".to_owned()));
    assert_eq!(
        record(&output),
        ("/home/work/results/run1".to_owned(), "rw".to_owned())
    );
    assert_eq!(record(&dot), (format!("/home/work/{dot}"), "rw".to_owned()));
    assert_eq!(
        psql(&format!(
            "select requested_slots->>'cpu' from sessions where id = '{}'",
            created.id
        )),
        "1"
    );

    let listed = engine.list_sessions().await.unwrap();
    let row = listed
        .iter()
        .find(|s| s.id == created.id)
        .unwrap_or_else(|| panic!("{name} listed: {listed:?}"));
    assert_eq!(row.status, SessionStatus::Running);
    assert_eq!(row.mounts, created.mounts);
    assert_eq!(row.resources.cpus, Some(1));
    assert_eq!(row.resources.memory_bytes, Some(512 << 20));
    let by_name = engine.session(&name).await.unwrap();
    assert_eq!(by_name.id, created.id);

    // A name taken by a live session is refused before a second one is queued.
    let again = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            ..NewSession::interactive(IMAGE, vec![])
        })
        .await
        .unwrap_err();
    assert_eq!(again.code, ErrorCode::AlreadyExists, "{again}");

    // The peer's dummy agent answers every logs call with "my logs" — but only until its
    // 60-second registry sweep (`_clean_kernel_registry_loop`) drops the kernels its fake
    // container list does not show; after that the manager answers 500 for a session it still
    // calls running. Which side of the sweep this call lands on is chance, so both are checked:
    // the text is passed through whole, or the failure arrives as an error naming the call.
    match engine.session_logs(&created.id).await {
        Ok(logs) => assert_eq!(logs, "my logs"),
        Err(error) => {
            assert_eq!(error.code, ErrorCode::Internal, "{error}");
            assert!(
                error
                    .message
                    .contains(&format!("session/{}/logs", created.id)),
                "{error}"
            );
        }
    }

    let destroyed = engine.destroy_session(&created.id).await.unwrap();
    assert_eq!(destroyed.status, SessionStatus::Terminated, "{destroyed:?}");
    assert!(destroyed.ended_at_ms.is_some());
    assert_eq!(
        psql(&format!(
            "select status from sessions where id = '{}'",
            created.id
        )),
        "TERMINATED"
    );
    // Destroying an ended session is not an error; its logs are gone with it.
    let again = engine.destroy_session(&name).await.unwrap();
    assert_eq!(again.status, SessionStatus::Terminated);
    let logs = engine.session_logs(&created.id).await.unwrap_err();
    assert_eq!(logs.code, ErrorCode::NotFound, "{logs}");
    // Ended, it is still listed (as ended) for a while, as on the local engine.
    let listed = engine.list_sessions().await.unwrap();
    let row = listed.iter().find(|s| s.id == created.id).unwrap();
    assert_eq!(row.status, SessionStatus::Terminated);
}

#[tokio::test]
async fn a_refused_alias_or_name_never_reaches_the_server() {
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let data = folder(&engine, &mut cleanup, unique("bs-bad")).await;

    let mut refused = Vec::new();
    for alias in ["../../etc", "/proc/x", "/home/work", "/home/work/../../etc"] {
        let name = unique("bs-refused");
        let error = engine
            .create_session(NewSession {
                name: Some(name.clone()),
                ..NewSession::interactive(
                    IMAGE,
                    vec![MountRequest {
                        folder: data.clone(),
                        alias: Some(alias.into()),
                        access: None,
                    }],
                )
            })
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput, "{alias}: {error}");
        assert!(error.message.contains(&data), "{alias}: {error}");
        refused.push(name);
    }
    // Backend.AI's 4-character minimum, checked here too.
    let error = engine
        .create_session(NewSession {
            name: Some("abc".into()),
            ..NewSession::interactive(IMAGE, vec![])
        })
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error}");
    assert!(error.message.contains("4"), "{error}");

    for name in &refused {
        assert_eq!(
            psql(&format!(
                "select count(*) from sessions where name = '{name}'"
            )),
            "0",
            "{name} reached the manager"
        );
        let missing = engine.session(name).await.unwrap_err();
        assert_eq!(missing.code, ErrorCode::NotFound, "{missing}");
    }
}

/// The variables a session is given reach the cluster as `config.environ`: the manager keeps
/// them on the session and hands them to its kernel (`kernels.environ`, `NAME=VALUE` strings,
/// what the agent starts the container with). The session's details show them back.
#[tokio::test]
async fn a_sessions_variables_are_on_its_kernel_record() {
    let engine = engine().await;
    let mut cleanup = Cleanup::default();
    let name = unique("bs-env");
    cleanup.sessions.push(name.clone());
    let environ = vec![
        EnvVar::new("GREETING", "hello world"),
        EnvVar::new("QUOTED", "it's \"x\" = y"),
        EnvVar::new("EMPTY", ""),
    ];
    let created = engine
        .create_session(NewSession {
            name: Some(name.clone()),
            environ: environ.clone(),
            ..NewSession::interactive(IMAGE, vec![])
        })
        .await
        .unwrap();
    assert_eq!(created.environ, environ);

    let kernel: Vec<String> = psql(&format!(
        "select array_to_string(environ, chr(10)) from kernels where session_id = '{}'",
        created.id
    ))
    .lines()
    .map(str::to_owned)
    .collect();
    for expected in ["GREETING=hello world", "QUOTED=it's \"x\" = y", "EMPTY="] {
        assert!(
            kernel.iter().any(|line| line == expected),
            "{expected} on the kernel: {kernel:?}"
        );
    }
    assert_eq!(
        psql(&format!(
            "select environ->>'GREETING' from sessions where id = '{}'",
            created.id
        )),
        "hello world"
    );
    assert_eq!(engine.session(&name).await.unwrap().environ, environ);

    let destroyed = engine.destroy_session(&created.id).await.unwrap();
    assert_eq!(destroyed.status, SessionStatus::Terminated, "{destroyed:?}");
}

/// A name the engines or the cluster's agent set themselves is refused before any request.
#[tokio::test]
async fn a_reserved_variable_never_reaches_the_server() {
    let engine = engine().await;
    for (variable, rule) in [
        ("BACKENDAI_SESSION_ID", "belong to the engine"),
        ("LOCAL_USER_ID", "set by the Backend.AI cluster"),
        ("LD_PRELOAD", "set by the Backend.AI cluster"),
        ("BAD-NAME", "starts with a letter or '_'"),
    ] {
        let name = unique("bs-env-refused");
        let error = engine
            .create_session(NewSession {
                name: Some(name.clone()),
                environ: vec![EnvVar::new(variable, "0")],
                ..NewSession::interactive(IMAGE, vec![])
            })
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidInput, "{variable}: {error}");
        assert!(
            error.message.contains(&format!("\"{variable}\"")) && error.message.contains(rule),
            "{variable}: {error}"
        );
        assert_eq!(
            psql(&format!(
                "select count(*) from sessions where name = '{name}'"
            )),
            "0",
            "{name} reached the manager"
        );
    }
}
