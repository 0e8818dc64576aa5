//! Compute sessions on a Backend.AI cluster, filled into the same types the local engine fills:
//! environments are the cluster's images (GraphQL `images`), limits are what the user's resource
//! group can still allocate (`resource/check-presets`), sessions are created with `POST session`
//! (enqueued) and followed through the manager's session event stream, and listed with GraphQL
//! `compute_session_list`.
//!
//! Mounts are planned by berth-core's planner before any request is made: the manager checks
//! aliases literally (it stores `../../etc` or `/proc/x` as given, see `backendai-api.md`), so
//! the planner is the only guard, as for local sessions.

use berth_core::clock::now_ms;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use berth_core::mount::{HOME, automount_target};
use berth_core::session::validate_session_name;
use berth_core::{
    EnvVar, Environment, EnvironmentKind, Error, ErrorCode, Folder, FolderPermission,
    LimitEnforcement, MountPlan, NetworkMode, NewSession, Placements, PlannedMount,
    ProjectPlacements, ResourceGroupFree, ResourceLimits, ResourcePreset, ResourceRequest, Result,
    Session, SessionPlacement, SessionRuntime, SessionStatus, SessionType, plan_mounts,
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::connection::Connection;
use crate::folders::{self, parse_time_ms};

/// Backend.AI refuses shorter session names (they become host names in a cluster).
pub const MIN_SESSION_NAME: usize = 4;

/// How long `create_session` follows a new session before handing it back still starting: a
/// cluster may queue it for long, and the sessions page goes on following it from there.
const START_WAIT: Duration = Duration::from_secs(120);
/// How long a destroyed session may take to be reported terminated.
const END_WAIT: Duration = Duration::from_secs(60);
/// The event stream is what wakes a follower; this poll only covers events missed while the
/// stream was being opened (the manager sends its headers with the first event or ping).
const POLL: Duration = Duration::from_secs(3);
/// Backend.AI keeps every ended session and a user cannot remove one; the list shows those that
/// ended within this window, as the local engine shows ended sessions until they are cleaned up.
const ENDED_SHOWN_FOR: Duration = Duration::from_secs(24 * 3600);
/// Pages of the session list, and the most it reads.
const PAGE: u64 = 100;
const MOST_LISTED: u64 = 1000;
/// The most ended sessions the list shows (the newest): a busy cluster ends hundreds a day,
/// and reading them all costs the manager seconds on every refresh (3 s for 500 here).
const MOST_ENDED_LISTED: u64 = 100;

const GIB: f64 = (1u64 << 30) as f64;
const MIB: u64 = 1 << 20;

/// Where each session Berth created mounts its folders. The cluster records the targets but
/// shows a user only the folder names (26.8.1 has no user-facing field with the paths), so the
/// plan sent is remembered — in a file per profile, so the app and the CLI tell the same;
/// sessions started elsewhere (the web UI) show each picked folder at its default place,
/// `/home/work/<name>`. The environment variables sent are remembered with it for the same
/// reason: the manager keeps them, but shows a user no field with them (GraphQL has none, and
/// `GET session/{id}` answers a Python repr), so a session started elsewhere shows none.
#[derive(Default)]
pub struct MountMemory {
    plans: Mutex<HashMap<String, RememberedPlan>>,
    file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, serde::Serialize, Deserialize)]
struct RememberedPlan {
    mounts: Vec<PlannedMount>,
    created_at_ms: i64,
    #[serde(default)]
    environ: Vec<EnvVar>,
}

/// Plans are kept this long: longer than any session shown as ended.
const PLANS_KEPT_FOR_MS: i64 = 30 * 24 * 3600 * 1000;

impl MountMemory {
    /// A memory kept in `file` (read now, written on every new session).
    pub fn in_file(file: std::path::PathBuf) -> Self {
        let plans = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self {
            plans: Mutex::new(plans),
            file: Some(file),
        }
    }

    fn remember(&self, session_id: &str, mounts: Vec<PlannedMount>, environ: Vec<EnvVar>) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        // Another process (the app, a `berth` command) may have remembered sessions meanwhile.
        if let Some(file) = &self.file
            && let Some(on_disk) = std::fs::read(file)
                .ok()
                .and_then(|b| serde_json::from_slice::<HashMap<String, RememberedPlan>>(&b).ok())
        {
            for (id, plan) in on_disk {
                plans.entry(id).or_insert(plan);
            }
        }
        plans.retain(|_, plan| now_ms - plan.created_at_ms < PLANS_KEPT_FOR_MS);
        plans.insert(
            session_id.to_owned(),
            RememberedPlan {
                mounts,
                created_at_ms: now_ms,
                environ,
            },
        );
        if let Some(file) = &self.file {
            // Losing this file only shows default places; the session itself is unaffected.
            let written = serde_json::to_vec(&*plans)
                .map_err(std::io::Error::other)
                .and_then(|bytes| {
                    if let Some(dir) = file.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    let temporary = file.with_extension("json.tmp");
                    std::fs::write(&temporary, bytes)?;
                    std::fs::rename(&temporary, file)
                });
            if let Err(error) = written {
                tracing::warn!(%error, file = %file.display(), "cannot remember a session's mounts");
            }
        }
    }

    fn recall(&self, session_id: &str) -> Option<RememberedPlan> {
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        if !plans.contains_key(session_id)
            && let Some(file) = &self.file
            && let Some(on_disk) = std::fs::read(file)
                .ok()
                .and_then(|b| serde_json::from_slice::<HashMap<String, RememberedPlan>>(&b).ok())
        {
            *plans = on_disk;
        }
        plans.get(session_id).cloned()
    }
}

// ---------------------------------------------------------------------------------------------
// Environments

/// One image as GraphQL `images` lists it; the fields after `labels` exist on 24.09+ servers.
#[derive(Debug, Clone, Deserialize)]
struct RemoteImage {
    name: String,
    registry: String,
    #[serde(default)]
    architecture: Option<String>,
    tag: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    labels: Vec<KeyValue>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    base_image_name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    #[serde(default)]
    resource_limits: Vec<SlotLimit>,
}

#[derive(Debug, Clone, Deserialize)]
struct KeyValue {
    key: String,
    value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct SlotLimit {
    key: String,
    min: Option<String>,
}

const IMAGE_FIELDS: &str = "name registry architecture tag aliases labels { key value } \
     status base_image_name version tags { key value } resource_limits { key min max }";
/// What every supported server (24.03 on) answers, for servers without the richer fields.
const IMAGE_FIELDS_BASIC: &str = "name registry architecture tag aliases labels { key value }";

impl RemoteImage {
    /// `registry/name:tag`, what `POST session` takes as `image`.
    fn reference(&self) -> String {
        format!("{}/{}:{}", self.registry, self.name, self.tag)
    }

    fn arch(&self) -> &str {
        self.architecture.as_deref().unwrap_or("x86_64")
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.key == key)
            .and_then(|l| l.value.as_deref())
    }

    /// Images a user can start a session from: alive, and not the cluster's own system images
    /// (file browsers, SFTP servers), which the web UI hides from its launcher too.
    fn is_launchable(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s == "ALIVE")
            && self.label("ai.backend.role") != Some("SYSTEM")
    }

    /// "Python 3.9 (Ubuntu 20.04)".
    fn readable_name(&self) -> String {
        let base = self
            .base_image_name
            .as_deref()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| self.name.rsplit('/').next().unwrap_or(&self.name));
        let version = self
            .version
            .as_deref()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.tag.split('-').next().unwrap_or(&self.tag));
        let mut name = format!("{} {version}", capitalised(base));
        let distro: Vec<String> = self
            .tags
            .iter()
            .map(|t| {
                format!(
                    "{} {}",
                    capitalised(&t.key),
                    t.value.as_deref().unwrap_or("")
                )
            })
            .map(|t| t.trim().to_owned())
            .collect();
        if !distro.is_empty() {
            name.push_str(&format!(" ({})", distro.join(", ")));
        }
        name
    }

    /// The least a session of this image needs, e.g. "at least 1 CPU and 256 MiB".
    fn minimum(&self) -> Option<String> {
        let min = |key: &str| {
            self.resource_limits
                .iter()
                .find(|l| l.key == key)
                .and_then(|l| l.min.as_deref())
                .and_then(|m| m.parse::<f64>().ok())
                .filter(|m| m.is_finite() && *m > 0.0)
        };
        let parts: Vec<String> = [
            min("cpu").map(|c| format!("{c} CPU")),
            min("mem").map(|m| humanize_bytes(m as u64)),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| format!("at least {}", parts.join(" and ")))
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn humanize_bytes(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / GIB)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

/// The images, with the ids [`list_environments`] gives them: `registry/name:tag`, plus
/// `@architecture` where one reference exists for several architectures.
async fn images(connection: &Connection) -> Result<Vec<(String, RemoteImage)>> {
    #[derive(Deserialize)]
    struct Images {
        images: Option<Vec<RemoteImage>>,
    }
    let query = |fields: &str| format!("{{ images {{ {fields} }} }}");
    let answer: Images = match connection.graphql(&query(IMAGE_FIELDS), json!({})).await {
        Ok(answer) => answer,
        // An older manager without the richer fields: the basic set every version has.
        Err(e) if e.message.contains("Cannot query field") => {
            connection
                .graphql(&query(IMAGE_FIELDS_BASIC), json!({}))
                .await?
        }
        Err(e) => return Err(e),
    };
    let images: Vec<RemoteImage> = answer
        .images
        .unwrap_or_default()
        .into_iter()
        .filter(RemoteImage::is_launchable)
        .collect();
    let mut per_reference: HashMap<String, usize> = HashMap::new();
    for image in &images {
        *per_reference.entry(image.reference()).or_default() += 1;
    }
    Ok(images
        .into_iter()
        .map(|image| {
            let reference = image.reference();
            let id = if per_reference[&reference] > 1 {
                format!("{reference}@{}", image.arch())
            } else {
                reference
            };
            (id, image)
        })
        .collect())
}

/// The cluster's images a session can start from, sorted by name (newest tag first within
/// one name). Backend.AI has no default image, so the first of that order leads the list.
pub async fn list_environments(connection: &Connection) -> Result<Vec<Environment>> {
    let mut listed: Vec<(String, RemoteImage)> = images(connection).await?;
    listed.sort_by(|(_, a), (_, b)| {
        a.readable_name()
            .to_lowercase()
            .cmp(&b.readable_name().to_lowercase())
            .then_with(|| b.tag.cmp(&a.tag))
            .then_with(|| a.arch().cmp(b.arch()))
    });
    Ok(listed
        .into_iter()
        .map(|(id, image)| {
            let mut description = format!("{} · {}", image.reference(), image.arch());
            if let Some(minimum) = image.minimum() {
                description.push_str(&format!(" · needs {minimum}"));
            }
            if !image.aliases.is_empty() {
                description.push_str(&format!(" · also called {}", image.aliases.join(", ")));
            }
            let mut name = image.readable_name();
            if id.contains('@') {
                name.push_str(&format!(" · {}", image.arch()));
            }
            Environment {
                id,
                name,
                kind: EnvironmentKind::Image,
                description,
            }
        })
        .collect())
}

/// The image environment `id` names (an id from the list, a bare reference or an alias).
async fn image_for(connection: &Connection, id: &str) -> Result<RemoteImage> {
    let listed = images(connection).await?;
    let found = listed
        .iter()
        .find(|(listed_id, _)| listed_id == id)
        .or_else(|| listed.iter().find(|(_, image)| image.reference() == id))
        .or_else(|| {
            listed
                .iter()
                .find(|(_, image)| image.aliases.iter().any(|a| a == id))
        });
    found.map(|(_, image)| image.clone()).ok_or_else(|| {
        Error::invalid_input(format!(
            "This cluster has no environment \"{id}\"; pick one from its list (`berth env list`)."
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Where sessions go: domain, project, resource group

struct Placement {
    domain: Option<String>,
    project: String,
    resource_group: Option<String>,
}

/// The user's domain and the projects they belong to (one GraphQL query).
struct Membership {
    domain: Option<String>,
    projects: Vec<String>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

async fn membership(connection: &Connection) -> Result<Membership> {
    #[derive(Deserialize)]
    struct Me {
        user: Option<User>,
    }
    #[derive(Deserialize)]
    struct User {
        domain_name: Option<String>,
        #[serde(default)]
        groups: Vec<Named>,
    }
    let me: Me = connection
        .graphql("{ user { domain_name groups { id name } } }", json!({}))
        .await?;
    let user = me
        .user
        .ok_or_else(|| Error::internal("The server did not say who is logged in."))?;
    if user.groups.is_empty() {
        return Err(Error::new(
            ErrorCode::PermissionDenied,
            "Your account belongs to no project on this cluster, so it cannot start sessions. Ask your administrator to add you to one.",
        ));
    }
    Ok(Membership {
        domain: user.domain_name,
        projects: user.groups.into_iter().map(|g| g.name).collect(),
    })
}

/// The resource groups project `project` may use.
async fn resource_groups(connection: &Connection, project: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct ResourceGroups {
        #[serde(default)]
        scaling_groups: Vec<Named>,
    }
    let groups: ResourceGroups = connection
        .call_json(
            Method::GET,
            &format!("scaling-groups?group={}", folders::segment(project)),
            None,
        )
        .await?;
    Ok(groups.scaling_groups.into_iter().map(|g| g.name).collect())
}

/// The pick when the user makes none: the one called `default`, else the first.
fn default_of(names: &[String]) -> Option<&String> {
    names.iter().find(|n| *n == "default").or(names.first())
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a new session goes: the project and resource group the user asked for, checked
/// against what the cluster lets them use, or else the user's project (`default` when they
/// belong to it, else their first) and the first resource group that project may use
/// (`default` first). Errors: `invalid_input` naming the project or group and listing the
/// ones the user may pick.
async fn placement(
    connection: &Connection,
    project: Option<&str>,
    resource_group: Option<&str>,
) -> Result<Placement> {
    let member = membership(connection).await?;
    let project = match project {
        Some(wanted) => member
            .projects
            .iter()
            .find(|p| *p == wanted)
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "You are not a member of project \"{}\" on this cluster; your projects: {}.",
                    wanted.escape_debug(),
                    quoted(&member.projects)
                ))
            })?,
        None => default_of(&member.projects).unwrap_or(&member.projects[0]),
    }
    .clone();
    let groups = resource_groups(connection, &project).await?;
    let resource_group = match resource_group {
        Some(wanted) => Some(
            groups
                .iter()
                .find(|g| *g == wanted)
                .ok_or_else(|| {
                    Error::invalid_input(format!(
                        "Project \"{project}\" may not use resource group \"{}\"; it may use: {}.",
                        wanted.escape_debug(),
                        match groups.is_empty() {
                            true => "none".to_owned(),
                            false => quoted(&groups),
                        }
                    ))
                })?
                .clone(),
        ),
        None => default_of(&groups).cloned(),
    };
    Ok(Placement {
        domain: member.domain,
        project,
        resource_group,
    })
}

// ---------------------------------------------------------------------------------------------
// Resource limits

/// A slot amount as the manager writes it: a string (`"4.000000"`, `"Infinity"`, `"NaN"`) or a
/// number; only finite amounts limit anything.
fn amount(value: &Value) -> Option<f64> {
    let number = match value {
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        Value::Number(number) => number.as_f64()?,
        _ => return None,
    };
    number.is_finite().then_some(number)
}

/// What resource group `placement.resource_group` (the engine's pick when `None`) of project
/// `placement.project` can give a new session now, from `resource/check-presets`: the least of
/// what the keypair, the project and the resource group have left, with the cluster's presets.
/// The cluster enforces CPU and memory; the size of `/home/work` is its agents' to decide.
/// Errors: those of [`placement`] for a project or group the user may not use.
pub async fn resource_limits(
    connection: &Connection,
    placement: &SessionPlacement,
) -> Result<ResourceLimits> {
    let placement = self::placement(
        connection,
        placement.project.as_deref(),
        placement.resource_group.as_deref(),
    )
    .await?;
    let mut body = json!({ "group": placement.project });
    if let Some(group) = &placement.resource_group {
        body["scaling_group"] = json!(group);
    }
    let answer: Value = connection
        .call_json(Method::POST, "resource/check-presets", Some(&body))
        .await?;
    Ok(limits_from(&answer, &placement))
}

/// Every project the user belongs to with the resource groups it may use and what each has
/// free now (one `scaling-groups` and one `check-presets` call per project), and the
/// placement [`placement`] picks when the user does not.
pub async fn placements(connection: &Connection) -> Result<Placements> {
    let member = membership(connection).await?;
    let mut projects = Vec::new();
    for project in member.projects {
        let groups = resource_groups(connection, &project).await?;
        let answer: Value = connection
            .call_json(
                Method::POST,
                "resource/check-presets",
                Some(&json!({ "group": project })),
            )
            .await?;
        let resource_groups = groups
            .into_iter()
            .map(|name| {
                let (cpus, memory) = free_in(&answer, Some(&name));
                ResourceGroupFree {
                    name,
                    free_cpus: cpus.floor() as u32,
                    free_memory_bytes: memory as u64,
                }
            })
            .collect();
        projects.push(ProjectPlacements {
            project,
            resource_groups,
        });
    }
    // What `placement` picks when the user does not, from what was just read.
    let names: Vec<String> = projects.iter().map(|p| p.project.clone()).collect();
    let chosen = default_of(&names).and_then(|n| projects.iter().find(|p| &p.project == n));
    let default = SessionPlacement {
        project: chosen.map(|p| p.project.clone()),
        resource_group: chosen.and_then(|p| {
            let groups: Vec<String> = p.resource_groups.iter().map(|g| g.name.clone()).collect();
            default_of(&groups).cloned()
        }),
    };
    Ok(Placements { projects, default })
}

/// The presets of a `check-presets` answer: name, CPUs, memory, allocatable now.
fn presets_in(answer: &Value) -> Vec<ResourcePreset> {
    answer["presets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| ResourcePreset {
            name: p["name"].as_str().unwrap_or("?").to_owned(),
            cpus: amount(&p["resource_slots"]["cpu"]).unwrap_or(0.0),
            memory_bytes: amount(&p["resource_slots"]["mem"]).unwrap_or(0.0) as u64,
            allocatable: p["allocatable"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// CPUs and memory bytes a new session could get in resource group `group` (the answer's
/// aggregate when `None` or unreported): the least of the keypair's, the project's and the
/// group's remaining. Without any finite limit (an unlimited keypair on an unreported group),
/// the largest preset, rather than an invented number.
fn free_in(answer: &Value, group: Option<&str>) -> (f64, f64) {
    let group_remaining = group
        .map(|g| &answer["scaling_groups"][g]["remaining"])
        .filter(|v| v.is_object())
        .unwrap_or(&answer["scaling_group_remaining"]);
    let remaining = |slot: &str| {
        [
            &answer["keypair_remaining"],
            &answer["group_remaining"],
            group_remaining,
        ]
        .into_iter()
        .filter_map(|m| amount(&m[slot]))
        .reduce(f64::min)
    };
    let presets = presets_in(answer);
    let largest = |pick: fn(&ResourcePreset) -> f64| presets.iter().map(pick).fold(0.0, f64::max);
    let cpus = remaining("cpu")
        .unwrap_or_else(|| largest(|p| p.cpus))
        .max(0.0);
    let memory = remaining("mem")
        .unwrap_or_else(|| largest(|p| p.memory_bytes as f64))
        .max(0.0);
    (cpus, memory)
}

fn limits_from(answer: &Value, placement: &Placement) -> ResourceLimits {
    let (cpus, memory) = free_in(answer, placement.resource_group.as_deref());
    let group = placement.resource_group.as_deref().unwrap_or("default");
    let note = format!(
        "Resource group \"{group}\" of project \"{}\" can give a new session {} CPUs and {} now \
         (what is free within your keypair's and project's limits); the cluster enforces CPU \
         and memory. The size of /home/work is the cluster's to decide.",
        placement.project,
        cpus.floor(),
        humanize_bytes(memory as u64),
    );
    ResourceLimits {
        max_cpus: cpus.floor() as u32,
        cpus: LimitEnforcement::Enforced,
        max_memory_bytes: memory as u64,
        memory: LimitEnforcement::Enforced,
        default_scratch_bytes: 0,
        max_scratch_bytes: 0,
        scratch: LimitEnforcement::Advisory,
        note: Some(note),
        presets: presets_in(answer),
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions as the server reports them

const SESSION_FIELDS: &str = "id name type image status status_info status_data created_at \
     terminated_at startup_command result mounts requested_slots idle_checks \
     containers { cluster_role status_info status_data live_stat }";

/// One `compute_session_list` item.
#[derive(Debug, Clone, Deserialize)]
struct RemoteSession {
    id: String,
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    image: Option<String>,
    status: String,
    #[serde(default)]
    status_info: Option<String>,
    /// JSON, sent as a string by graphene's JSONString (sometimes as an object).
    #[serde(default)]
    status_data: Option<Value>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    terminated_at: Option<String>,
    #[serde(default)]
    startup_command: Option<String>,
    #[serde(default)]
    result: Option<String>,
    /// Folder names, automount folders included.
    #[serde(default)]
    mounts: Option<Vec<String>>,
    /// JSON in a string: `{"cpu": "1", "mem": "536870912"}`.
    #[serde(default)]
    requested_slots: Option<String>,
    /// Its kernels. When a kernel ends by itself the manager says why on the kernel only
    /// (`self-terminated`, with the session's own `status_info` left empty).
    #[serde(default)]
    containers: Option<Vec<RemoteKernel>>,
    /// The manager's idle checkers' report, JSON in a string (see `session_life`).
    #[serde(default)]
    idle_checks: Option<Value>,
}

/// One `containers` item of a session.
#[derive(Debug, Clone, Deserialize)]
struct RemoteKernel {
    #[serde(default)]
    cluster_role: Option<String>,
    #[serde(default)]
    status_info: Option<String>,
    #[serde(default)]
    status_data: Option<Value>,
    /// The agent's latest statistics, JSON in a string; null when it sent none.
    #[serde(default)]
    live_stat: Option<Value>,
}

/// Statuses of a session on its way to running.
const STARTING: &[&str] = &[
    "PENDING",
    "SCHEDULED",
    "PREPARING",
    "PULLING",
    "PREPARED",
    "CREATING",
];

impl RemoteSession {
    fn is_starting(&self) -> bool {
        STARTING.contains(&self.status.as_str())
    }

    /// Ended for good: nothing left to destroy.
    fn has_ended(&self) -> bool {
        matches!(self.status.as_str(), "TERMINATED" | "CANCELLED")
    }

    fn session_type(&self) -> SessionType {
        match self.kind.as_deref() {
            Some(kind) if kind.eq_ignore_ascii_case("batch") => SessionType::Batch,
            _ => SessionType::Interactive,
        }
    }

    /// The main kernel, which speaks for the session.
    fn main_kernel(&self) -> Option<&RemoteKernel> {
        let kernels = self.containers.as_deref()?;
        kernels
            .iter()
            .find(|k| k.cluster_role.as_deref() == Some("main"))
            .or(kernels.first())
    }

    /// Why the session is where it is: its own word, else its main kernel's.
    fn info(&self) -> &str {
        match self.status_info.as_deref() {
            Some(info) if !info.is_empty() => info,
            _ => self
                .main_kernel()
                .and_then(|k| k.status_info.as_deref())
                .unwrap_or_default(),
        }
    }

    fn data(&self) -> Value {
        let own = json_value(self.status_data.as_ref());
        if own.is_null() {
            json_value(self.main_kernel().and_then(|k| k.status_data.as_ref()))
        } else {
            own
        }
    }

    fn exit_code(&self) -> Option<i32> {
        // -1 is the agent's "no exit status" (a container killed from outside).
        self.data()["kernel"]["exit_code"]
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .filter(|c| *c >= 0)
    }

    /// Berth's status and the sentence that explains it, the way the local engine words them:
    /// an interactive session that ended without being asked to is an error.
    fn status(&self) -> (SessionStatus, Option<String>) {
        let info = self.info();
        let by_user = info == "user-requested";
        let why = || {
            let said = self.data()["error"]["repr"]
                .as_str()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            match (info, reason_in_words(info)) {
                ("", _) => format!("The cluster reports {}{said}.", self.status),
                (_, Some(words)) => format!(
                    "The cluster ended it: {words} ({} {info}){said}.",
                    self.status
                ),
                (_, None) => format!("The cluster reports {} ({info}){said}.", self.status),
            }
        };
        match self.status.as_str() {
            s if STARTING.contains(&s) => (SessionStatus::Preparing, None),
            "RUNNING" | "RESTARTING" | "RUNNING_DEGRADED" => (SessionStatus::Running, None),
            "TERMINATING" => (SessionStatus::Terminating, None),
            "TERMINATED" if self.session_type() == SessionType::Batch && !by_user => {
                let detail = match (self.result.as_deref(), self.exit_code()) {
                    (Some("SUCCESS"), _) | (_, Some(0)) => {
                        "The command finished successfully.".to_owned()
                    }
                    (_, Some(code)) => format!("The command failed with exit status {code}."),
                    (Some("FAILURE"), None) => "The command failed.".to_owned(),
                    _ => "The command ended.".to_owned(),
                };
                (SessionStatus::Terminated, Some(detail))
            }
            "TERMINATED" | "CANCELLED" if by_user => {
                (SessionStatus::Terminated, Some("Destroyed.".to_owned()))
            }
            "TERMINATED" | "CANCELLED" | "ERROR" => (SessionStatus::Error, Some(why())),
            // A status newer than this client: ended if the server says when.
            _ if self.terminated_at.is_some() => (SessionStatus::Terminated, Some(why())),
            _ => (SessionStatus::Preparing, None),
        }
    }

    fn resources(&self) -> ResourceRequest {
        let slots: Value = self
            .requested_slots
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        ResourceRequest {
            cpus: amount(&slots["cpu"]).map(|c| c.ceil() as u32),
            memory_bytes: amount(&slots["mem"]).map(|m| m as u64),
            scratch_bytes: None,
        }
    }

    /// Where its folders are: the plan this engine sent when it has it, else each folder at the
    /// place Backend.AI gives a folder without an alias (automounts always are there).
    fn mounts(&self, memory: &MountMemory, folders: &[Folder]) -> Vec<PlannedMount> {
        if let Some(planned) = memory.recall(&self.id) {
            return planned.mounts;
        }
        let mut mounts: Vec<PlannedMount> = self
            .mounts
            .iter()
            .flatten()
            .map(|name| {
                let folder = folders.iter().find(|f| &f.name == name);
                let automount = berth_core::folder::is_automount_name(name);
                PlannedMount {
                    folder_id: folder.map(|f| f.id.clone()).unwrap_or_default(),
                    folder_name: name.clone(),
                    target: if automount {
                        automount_target(name)
                    } else {
                        format!("{HOME}/{name}")
                    },
                    read_only: folder.is_some_and(|f| f.permission == FolderPermission::Ro),
                    automount,
                }
            })
            .collect();
        mounts.sort_by(|a, b| a.target.cmp(&b.target));
        mounts
    }

    fn needs_folders(&self, memory: &MountMemory) -> bool {
        self.mounts.as_ref().is_some_and(|m| !m.is_empty()) && memory.recall(&self.id).is_none()
    }

    fn to_session(&self, memory: &MountMemory, folders: &[Folder]) -> Session {
        let (status, status_detail) = self.status();
        Session {
            id: self.id.clone(),
            name: self.name.clone(),
            session_type: self.session_type(),
            status,
            created_at_ms: self
                .created_at
                .as_deref()
                .and_then(parse_time_ms)
                .unwrap_or(0),
            ended_at_ms: self.terminated_at.as_deref().and_then(parse_time_ms),
            environment: self.image.clone().unwrap_or_default(),
            // Backend.AI's agents run sessions as containers.
            runtime: SessionRuntime::Docker,
            network: NetworkMode::Outbound,
            resources: self.resources(),
            mounts: self.mounts(memory, folders),
            command: self.startup_command.clone().filter(|c| !c.is_empty()),
            exit_code: self.exit_code(),
            status_detail,
            // A container's root file system is its own throwaway layer.
            writable_root: true,
            root_note: None,
            environ: memory
                .recall(&self.id)
                .map(|plan| plan.environ)
                .unwrap_or_default(),
            // The cluster's idle checks are its own; Berth sets none there.
            limits: berth_core::SessionLimits::default(),
            lifetime_ends_at_ms: None,
            server_checks: if status == SessionStatus::Running {
                crate::session_life::idle_checks(self.idle_checks.as_ref(), now_ms())
            } else {
                Vec::new()
            },
        }
    }
}

/// A Backend.AI status reason in words a user reads, where Berth knows it.
fn reason_in_words(info: &str) -> Option<&'static str> {
    Some(match info {
        "self-terminated" => "its container stopped on its own",
        // The agent found the container gone rather than seeing it stop (a container killed
        // between two of its checks): the same end, seen later.
        "container-not-found" => "its container is gone",
        // The manager's sweep stopped hearing from the kernel (26.x): the same end, seen by the
        // manager before the agent said anything.
        "STALE_KERNEL" | "stale-kernel" => "its container stopped reporting to the cluster",
        "failed-to-start" => "it failed to start",
        "agent-lost" | "agent-termination" => "the node it ran on stopped answering",
        "force-terminated" | "terminated-by-admin" => "an administrator ended it",
        "idle-timeout" => "it was idle for too long",
        "idle-session-lifetime" | "session-lifetime" => "it reached its longest allowed lifetime",
        "idle-utilization" => "it used too little of what it was given",
        "pending-timeout" => "it waited too long for resources",
        _ => return None,
    })
}

/// What running session `key` uses now, as its main container's agent last reported it.
pub async fn stats(connection: &Connection, key: &str) -> Result<berth_core::SessionStats> {
    let found = find(connection, key).await?;
    if found.status != "RUNNING" {
        return Err(Error::invalid_input(format!(
            "Session \"{}\" is not running ({}), so it uses nothing.",
            found.name, found.status
        )));
    }
    found
        .main_kernel()
        .and_then(|k| crate::session_life::live_stats(k.live_stat.as_ref(), now_ms()))
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "The cluster has no figures for what session \"{}\" uses: its agent reports \
                 none (the manager's live_stat is empty).",
                found.name
            ))
        })
}

/// A JSON field the manager sends as a string (graphene's JSONString) or as JSON.
pub(crate) fn json_value(field: Option<&Value>) -> Value {
    match field {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or_default(),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

fn looks_like_uuid(text: &str) -> bool {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// Sessions matching a GraphQL `filter`, newest first, at most about `most` (whole pages).
async fn query_sessions(
    connection: &Connection,
    filter: &str,
    most: u64,
) -> Result<Vec<RemoteSession>> {
    #[derive(Deserialize)]
    struct Answer {
        compute_session_list: Option<Page>,
    }
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        total_count: u64,
        #[serde(default)]
        items: Vec<RemoteSession>,
    }
    let query = format!(
        "query($limit: Int!, $offset: Int!, $filter: String) {{ compute_session_list(limit: \
         $limit, offset: $offset, filter: $filter, order: \"-created_at\") {{ total_count \
         items {{ {SESSION_FIELDS} }} }} }}"
    );
    // Without the life fields (idle checks, live statistics) when the manager cannot answer
    // them: a resolver that fails for one session (a dying kernel's report) fails the whole
    // query, and a list without countdowns beats no list.
    let plain = query.replace(" idle_checks", "").replace(" live_stat", "");
    let mut sessions = Vec::new();
    let mut offset = 0;
    loop {
        let variables = json!({ "limit": PAGE.min(most), "offset": offset, "filter": filter });
        let answer: Answer = match connection.graphql(&query, variables.clone()).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(%error, "session list without its life fields");
                connection.graphql(&plain, variables).await?
            }
        };
        let Some(page) = answer.compute_session_list else {
            break;
        };
        let got = page.items.len() as u64;
        sessions.extend(page.items);
        offset += got;
        if got == 0 || offset >= page.total_count || offset >= most {
            break;
        }
    }
    Ok(sessions)
}

/// The session `key` names: its id, or its name (the live one if any, else the newest).
async fn find(connection: &Connection, key: &str) -> Result<RemoteSession> {
    let not_found = || {
        Error::new(
            ErrorCode::NotFound,
            format!("No session is called \"{}\".", key.escape_debug()),
        )
    };
    let filter = if looks_like_uuid(key) {
        let hex: String = key.chars().filter(|c| *c != '-').collect();
        let dashed = format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        format!("id == \"{}\"", dashed.to_lowercase())
    } else if validate_session_name(key).is_ok() {
        // The name rules leave nothing a filter string would need escaped.
        format!("name == \"{key}\"")
    } else {
        return Err(not_found());
    };
    let found = query_sessions(connection, &filter, MOST_LISTED).await?;
    found
        .iter()
        .find(|s| !s.has_ended())
        .or_else(|| found.first())
        .cloned()
        .ok_or_else(not_found)
}

/// The user's folders for showing where sessions mount them; a user the cluster does not let
/// list folders still sees the sessions, with the folder names only.
async fn folders_for(connection: &Connection) -> Vec<Folder> {
    match folders::list_folders(connection).await {
        Ok(folders) => folders,
        Err(error) => {
            tracing::debug!(%error, "cannot list folders to show session mounts");
            Vec::new()
        }
    }
}

/// Live sessions, and the newest of those that ended within the last day, newest first.
pub async fn list_sessions(connection: &Connection, memory: &MountMemory) -> Result<Vec<Session>> {
    let since = time::OffsetDateTime::now_utc() - ENDED_SHOWN_FOR;
    let since = since
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::internal(format!("Cannot write a time: {e}")))?;
    let live_filter = "status != \"TERMINATED\" & status != \"CANCELLED\"";
    let ended_filter = format!(
        "(status == \"TERMINATED\" | status == \"CANCELLED\") & terminated_at >= \"{since}\""
    );
    let (live, ended) = tokio::try_join!(
        query_sessions(connection, live_filter, MOST_LISTED),
        query_sessions(connection, &ended_filter, MOST_ENDED_LISTED),
    )?;
    let mut remote = live;
    remote.extend(ended);
    // Newest first across both (ISO 8601 times in one zone sort as text).
    remote.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let folders = if remote.iter().any(|s| s.needs_folders(memory)) {
        folders_for(connection).await
    } else {
        Vec::new()
    };
    Ok(remote
        .iter()
        .map(|s| s.to_session(memory, &folders))
        .collect())
}

/// One session by id or name. `not_found` when there is none.
pub async fn session(connection: &Connection, memory: &MountMemory, key: &str) -> Result<Session> {
    let remote = find(connection, key).await?;
    let folders = if remote.needs_folders(memory) {
        folders_for(connection).await
    } else {
        Vec::new()
    };
    Ok(remote.to_session(memory, &folders))
}

// ---------------------------------------------------------------------------------------------
// Following a session through the event stream

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerEvent {
    name: String,
    data: String,
}

/// Reads `text/event-stream` bytes as they arrive, in whatever pieces.
#[derive(Default)]
struct EventParser {
    pending: Vec<u8>,
    name: String,
    data: Vec<String>,
}

impl EventParser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<ServerEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.name.is_empty() || !self.data.is_empty() {
                    let name = std::mem::take(&mut self.name);
                    events.push(ServerEvent {
                        name: if name.is_empty() {
                            "message".to_owned()
                        } else {
                            name
                        },
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // a keep-alive comment (`: ping`)
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.name = value.to_owned(),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

/// Sends the names of session `id`'s `session_*` events to `tx` until the stream ends.
async fn pump_events(connection: &Connection, id: &str, tx: mpsc::UnboundedSender<String>) {
    let path = format!("events/session?sessionId={id}");
    let mut response = match connection.open_stream(&path).await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(%error, id, "no session event stream; polling instead");
            return;
        }
    };
    let mut parser = EventParser::default();
    while let Ok(Some(bytes)) = response.chunk().await {
        for event in parser.feed(&bytes) {
            let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
            let ours = data["sessionId"].as_str().is_none_or(|s| s == id);
            if ours && event.name.starts_with("session_") && tx.send(event.name).is_err() {
                return;
            }
        }
    }
}

/// Follows session `id` until `done` holds for it or `wait` passes: woken by the session's
/// events, re-reading its state from GraphQL (the truth) each time. Returns the last state and
/// whether `done` was reached.
async fn follow(
    connection: &Connection,
    id: &str,
    wait: Duration,
    done: impl Fn(&RemoteSession) -> bool,
) -> Result<(RemoteSession, bool)> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pump = pump_events(connection, id, tx);
    tokio::pin!(pump);
    let mut pumping = true;
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    let mut current = find(connection, id).await?;
    loop {
        if done(&current) {
            return Ok((current, true));
        }
        tokio::select! {
            () = &mut pump, if pumping => {
                pumping = false;
                continue;
            }
            Some(event) = rx.recv() => {
                tracing::debug!(id, event, "session event");
            }
            () = tokio::time::sleep(POLL) => {}
            () = &mut deadline => return Ok((current, false)),
        }
        current = find(connection, id).await?;
    }
}

// ---------------------------------------------------------------------------------------------
// Create, destroy, logs

/// A name for a session the user did not name: `berth-` and six hex digits.
fn generated_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16))
        .unwrap_or_default();
    format!("berth-{:06x}", (nanos ^ std::process::id()) & 0xff_ffff)
}

/// What Backend.AI takes as a session name: Berth's rules plus its 4-character minimum.
pub fn validate_name(name: &str) -> Result<()> {
    validate_session_name(name)?;
    if name.len() < MIN_SESSION_NAME {
        return Err(Error::invalid_input(format!(
            "Session name \"{name}\" is shorter than {MIN_SESSION_NAME} characters; Backend.AI needs {MIN_SESSION_NAME} to {}.",
            berth_core::session::MAX_SESSION_NAME
        )));
    }
    Ok(())
}

/// Variables a Backend.AI agent sets in every container over the user's (26.8.1,
/// `agent/agent.py`, `stage/kernel_lifecycle/docker/environ.py`): the uid and groups its
/// entrypoint gives the session user, its own preload hook, and the accelerator counts (set to
/// 0 without one). A user's value would be lost or, for the ids, decide who the session runs as.
const CLUSTER_ENV_NAMES: &[&str] = &[
    "LOCAL_USER_ID",
    "LOCAL_GROUP_ID",
    "ADDITIONAL_GIDS",
    "LD_PRELOAD",
    "GPU_COUNT",
    "N_GPUS",
];

/// What a cluster decides for itself and Berth therefore cannot ask for.
fn refuse_unsupported(spec: &NewSession) -> Result<()> {
    if let Some(var) = spec
        .environ
        .iter()
        .find(|v| CLUSTER_ENV_NAMES.contains(&v.name.as_str()))
    {
        return Err(Error::invalid_input(format!(
            "Environment variable \"{}\" is set by the Backend.AI cluster in every session and \
             cannot be replaced; pick another name.",
            var.name
        )));
    }
    if !spec.limits.is_empty() {
        return Err(Error::invalid_input(
            "A Backend.AI cluster ends idle and old sessions by its administrators' rules; \
             leave the idle timeout and lifetime empty there.",
        ));
    }
    if spec.network != NetworkMode::Outbound {
        return Err(Error::invalid_input(
            "A Backend.AI cluster decides a session's network; start it with the default (outbound) network.",
        ));
    }
    if spec.resources.scratch_bytes.is_some() {
        return Err(Error::invalid_input(
            "A Backend.AI cluster decides the size of /home/work; leave the scratch space empty.",
        ));
    }
    if spec.resources.cpus == Some(0) {
        return Err(Error::invalid_input(
            "A session needs at least 1 CPU; leave it empty for the environment's minimum.",
        ));
    }
    if spec.resources.memory_bytes.is_some_and(|m| m < MIB) {
        return Err(Error::invalid_input(
            "A session needs some memory; leave it empty for the environment's minimum.",
        ));
    }
    Ok(())
}

/// The `POST session` body (creation config v5+): the planned targets as `mount_map`, read-only
/// mounts in `mount_options`. Automount folders are mounted by the manager itself at their fixed
/// place, so they get no alias.
fn creation_body(
    name: &str,
    spec: &NewSession,
    image: &RemoteImage,
    plan: &MountPlan,
    placement: &Placement,
) -> Value {
    let picked: Vec<&PlannedMount> = plan
        .mounts
        .iter()
        .filter(|m| spec.mounts.iter().any(|r| r.folder == m.folder_name))
        .collect();
    let mounts: Vec<&str> = picked.iter().map(|m| m.folder_name.as_str()).collect();
    let mount_map: serde_json::Map<String, Value> = picked
        .iter()
        .filter(|m| !m.automount)
        .map(|m| (m.folder_name.clone(), json!(m.target)))
        .collect();
    let mount_options: serde_json::Map<String, Value> = picked
        .iter()
        .filter(|m| m.read_only)
        .map(|m| (m.folder_name.clone(), json!({ "permission": "ro" })))
        .collect();
    let mut resources = serde_json::Map::new();
    if let Some(cpus) = spec.resources.cpus {
        resources.insert("cpu".to_owned(), json!(cpus));
    }
    if let Some(memory) = spec.resources.memory_bytes {
        resources.insert("mem".to_owned(), json!(memory.to_string()));
    }
    let mut config = json!({
        "mounts": mounts,
        "mount_map": mount_map,
        "mount_options": mount_options,
    });
    if !resources.is_empty() {
        config["resources"] = Value::Object(resources);
    }
    if let Some(group) = &placement.resource_group {
        config["scaling_group"] = json!(group);
    }
    if !spec.environ.is_empty() {
        let environ: serde_json::Map<String, Value> = spec
            .environ
            .iter()
            .map(|var| (var.name.clone(), json!(var.value)))
            .collect();
        config["environ"] = Value::Object(environ);
    }
    if !spec.ports.is_empty() {
        config["preopen_ports"] = json!(spec.ports);
    }
    let mut body = json!({
        "name": name,
        "image": image.reference(),
        "architecture": image.arch(),
        "type": match spec.session_type {
            SessionType::Interactive => "interactive",
            SessionType::Batch => "batch",
        },
        "group": placement.project,
        "enqueueOnly": true,
        // A same-named live session must be an error, not silently handed back.
        "reuseIfExists": false,
        "config": config,
    });
    if let Some(domain) = &placement.domain {
        body["domain"] = json!(domain);
    }
    if spec.session_type == SessionType::Batch
        && let Some(command) = &spec.command
    {
        body["startupCommand"] = json!(command);
    }
    body
}

/// Starts a session and follows it until it runs, fails, or [`START_WAIT`] passes (then it is
/// returned still preparing, waiting in the cluster's queue). Refused before any request to
/// create it when the name, the command, a variable, an option the cluster decides, or a mount
/// breaks a rule; `already_exists` when a live session has the name.
pub async fn create_session(
    connection: &Connection,
    memory: &MountMemory,
    spec: NewSession,
) -> Result<Session> {
    spec.validate()?;
    let name = spec.name.clone().unwrap_or_else(generated_name);
    validate_name(&name)?;
    refuse_unsupported(&spec)?;
    let folders = folders::list_folders(connection).await?;
    let plan = plan_mounts(&spec.mounts, &folders)?;
    let image = image_for(connection, &spec.environment).await?;
    if let Ok(existing) = find(connection, &name).await
        && !existing.has_ended()
    {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("A session is already called \"{name}\"; pick another name."),
        ));
    }
    let placement = placement(
        connection,
        spec.project.as_deref(),
        spec.resource_group.as_deref(),
    )
    .await?;
    let body = creation_body(&name, &spec, &image, &plan, &placement);

    #[derive(Deserialize)]
    struct Created {
        #[serde(rename = "sessionId")]
        session_id: String,
        #[serde(default = "yes")]
        created: bool,
    }
    fn yes() -> bool {
        true
    }
    let created: Created = connection
        .call_json(Method::POST, "session", Some(&body))
        .await?;
    if !created.created {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("A session is already called \"{name}\"; pick another name."),
        ));
    }
    memory.remember(
        &created.session_id,
        plan.mounts.clone(),
        spec.environ.clone(),
    );
    tracing::info!(id = %created.session_id, name, "session enqueued");

    let batch = spec.session_type == SessionType::Batch;
    let (remote, settled) = follow(connection, &created.session_id, START_WAIT, |s| {
        !s.is_starting()
    })
    .await?;
    let mut session = remote.to_session(memory, &folders);
    match session.status {
        SessionStatus::Running => Ok(session),
        SessionStatus::Preparing if !settled => {
            session.status_detail = Some(format!(
                "Still waiting in the cluster's queue ({}) after {} s; it starts when the cluster has room.",
                remote.status,
                START_WAIT.as_secs()
            ));
            Ok(session)
        }
        // A batch command may be done before anyone looked.
        SessionStatus::Terminated | SessionStatus::Terminating if batch => Ok(session),
        _ => Err(Error::internal(format!(
            "Session \"{name}\" could not start: {}",
            session
                .status_detail
                .unwrap_or_else(|| format!("the cluster reports {}.", remote.status))
        ))),
    }
}

/// Ends a session (`DELETE session/{id}`) and waits until the cluster reports it terminated.
/// Destroying an ended session is not an error; a session in error is forced down, since the
/// cluster keeps its resources until then.
pub async fn destroy_session(
    connection: &Connection,
    memory: &MountMemory,
    key: &str,
) -> Result<Session> {
    let remote = find(connection, key).await?;
    if !remote.has_ended() {
        let forced = if remote.status == "ERROR" {
            "?forced=true"
        } else {
            ""
        };
        match connection
            .call(
                Method::DELETE,
                &format!("session/{}{forced}", remote.id),
                None,
            )
            .await
        {
            // Ended meanwhile.
            Err(error) if error.code == ErrorCode::NotFound => {}
            other => {
                other?;
            }
        }
    }
    let (ended, settled) =
        follow(connection, &remote.id, END_WAIT, RemoteSession::has_ended).await?;
    if !settled {
        return Err(Error::internal(format!(
            "Session \"{}\" did not end when asked (the cluster reports {}); try again.",
            ended.name, ended.status
        )));
    }
    let folders = if ended.needs_folders(memory) {
        folders_for(connection).await
    } else {
        Vec::new()
    };
    Ok(ended.to_session(memory, &folders))
}

/// What the session's container printed (`GET session/{id}/logs`). The cluster keeps logs only
/// while a session exists: an ended one answers `not_found`.
pub async fn session_logs(connection: &Connection, key: &str) -> Result<String> {
    let remote = find(connection, key).await?;
    if remote.has_ended() {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!(
                "Session \"{}\" has ended; a Backend.AI cluster keeps a session's logs only while it exists.",
                remote.name
            ),
        ));
    }
    let answer: Value = match connection
        .call_json(Method::GET, &format!("session/{}/logs", remote.id), None)
        .await
    {
        Ok(answer) => answer,
        Err(error) => {
            // A kernel that just died: the manager lists the session as running for a few
            // seconds more, but its agent can no longer read the container (a bare 500).
            let now = find(connection, key).await.ok();
            return Err(match now {
                Some(now) if now.status().0 != SessionStatus::Running => Error::new(
                    ErrorCode::NotFound,
                    format!(
                        "Session \"{}\" is no longer running (the cluster reports {}), so its \
                         logs cannot be read.{}",
                        remote.name,
                        now.status,
                        now.status().1.map(|d| format!(" {d}")).unwrap_or_default()
                    ),
                ),
                _ => Error::new(
                    error.code,
                    format!(
                        "The cluster could not read the logs of session \"{}\": {}",
                        remote.name, error.message
                    ),
                ),
            });
        }
    };
    Ok(answer["result"]["logs"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_across_chunk_boundaries_and_pings_skipped() {
        let mut parser = EventParser::default();
        let stream = ": ping\r\n\r\nevent: session_pending\r\ndata: {\"sessionId\":\"a\"}\r\n\r\n\
                      event: session_started\ndata: {}\n\n: ping\n\n";
        let mut events = Vec::new();
        // Byte by byte: the worst split a network can make.
        for byte in stream.as_bytes() {
            events.extend(parser.feed(std::slice::from_ref(byte)));
        }
        assert_eq!(
            events,
            [
                ServerEvent {
                    name: "session_pending".into(),
                    data: "{\"sessionId\":\"a\"}".into()
                },
                ServerEvent {
                    name: "session_started".into(),
                    data: "{}".into()
                },
            ]
        );
    }

    fn remote(status: &str, info: Option<&str>, kind: &str) -> RemoteSession {
        serde_json::from_value(json!({
            "id": "3f91a22a-8284-4bdd-910c-cf1fef84a18a",
            "name": "s1",
            "type": kind,
            "status": status,
            "status_info": info,
            "status_data": null,
            "created_at": "2026-11-28T03:56:59.641172+00:00",
            "terminated_at": null,
            "mounts": ["data", ".local"],
            "requested_slots": "{\"cpu\": \"1\", \"mem\": \"536870912\"}",
        }))
        .unwrap()
    }

    #[test]
    fn statuses_map_like_the_local_engine() {
        let status = |s: &str, info: Option<&str>, kind: &str| remote(s, info, kind).status().0;
        assert_eq!(
            status("PENDING", None, "INTERACTIVE"),
            SessionStatus::Preparing
        );
        assert_eq!(
            status("PULLING", None, "INTERACTIVE"),
            SessionStatus::Preparing
        );
        assert_eq!(
            status("RUNNING", None, "INTERACTIVE"),
            SessionStatus::Running
        );
        assert_eq!(
            status("TERMINATING", Some("user-requested"), "INTERACTIVE"),
            SessionStatus::Terminating
        );
        assert_eq!(
            status("TERMINATED", Some("user-requested"), "INTERACTIVE"),
            SessionStatus::Terminated
        );
        assert_eq!(
            status("CANCELLED", Some("user-requested"), "INTERACTIVE"),
            SessionStatus::Terminated
        );
        // Ended without being asked: an error, with the cluster's reason.
        let died = remote("TERMINATED", Some("idle-timeout"), "INTERACTIVE").status();
        assert_eq!(died.0, SessionStatus::Error);
        assert_eq!(
            died.1.unwrap(),
            "The cluster ended it: it was idle for too long (TERMINATED idle-timeout)."
        );
        // A kernel that ended by itself: the session says nothing, its main kernel why (as
        // the peer's real agent reports a container killed from outside).
        let mut killed = remote("TERMINATED", Some(""), "INTERACTIVE");
        killed.containers = Some(vec![RemoteKernel {
            cluster_role: Some("main".into()),
            status_info: Some("self-terminated".into()),
            status_data: Some(json!("{\"kernel\": {\"exit_code\": -1}}")),
            live_stat: None,
        }]);
        assert_eq!(
            killed.status(),
            (
                SessionStatus::Error,
                Some(
                    "The cluster ended it: its container stopped on its own (TERMINATED \
                     self-terminated)."
                        .into()
                )
            )
        );
        assert_eq!(killed.exit_code(), None, "-1 is no status");
        // The same kill, when the agent found the container missing before it saw it stop.
        let missing = remote("TERMINATED", Some("container-not-found"), "INTERACTIVE").status();
        assert_eq!(
            missing.1.unwrap(),
            "The cluster ended it: its container is gone (TERMINATED container-not-found)."
        );
        // Or when the manager stopped hearing from it first (26.x's sweep of stale kernels).
        let stale = remote("TERMINATED", Some("STALE_KERNEL"), "INTERACTIVE").status();
        assert_eq!(
            stale.1.unwrap(),
            "The cluster ended it: its container stopped reporting to the cluster (TERMINATED \
             STALE_KERNEL)."
        );
        // A reason Berth has no words for is passed on as the cluster says it.
        let unknown = remote("TERMINATED", Some("rebalanced"), "INTERACTIVE").status();
        assert_eq!(
            unknown.1.unwrap(),
            "The cluster reports TERMINATED (rebalanced)."
        );
        assert_eq!(status("ERROR", None, "INTERACTIVE"), SessionStatus::Error);
        let batch = remote("TERMINATED", Some("task-finished"), "BATCH");
        assert_eq!(batch.status().0, SessionStatus::Terminated);
        assert_eq!(batch.session_type(), SessionType::Batch);
    }

    #[test]
    fn remembered_plans_win_and_others_show_default_places() {
        let session = remote("RUNNING", None, "INTERACTIVE");
        let memory = MountMemory::default();
        let guessed = session.mounts(&memory, &[]);
        let targets: Vec<(&str, &str, bool)> = guessed
            .iter()
            .map(|m| (m.folder_name.as_str(), m.target.as_str(), m.automount))
            .collect();
        assert_eq!(
            targets,
            [
                (".local", "/home/work/.local", true),
                ("data", "/home/work/data", false)
            ]
        );
        let planned = vec![PlannedMount {
            folder_id: "f".into(),
            folder_name: "data".into(),
            target: "/data/in".into(),
            read_only: true,
            automount: false,
        }];
        let environ = vec![EnvVar::new("GREETING", "hello")];
        memory.remember(&session.id, planned.clone(), environ.clone());
        assert_eq!(session.mounts(&memory, &[]), planned);
        assert_eq!(session.to_session(&memory, &[]).environ, environ);

        // Kept in a file, a plan reaches another process's engine (the app's, then the CLI's).
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("backendai/peer-mounts.json");
        MountMemory::in_file(file.clone()).remember(&session.id, planned.clone(), environ.clone());
        let other_process = MountMemory::in_file(file.clone());
        assert_eq!(session.mounts(&other_process, &[]), planned);
        assert_eq!(session.to_session(&other_process, &[]).environ, environ);
        // And one that started before the plan was written still finds it.
        let started_earlier = MountMemory::in_file(dir.path().join("backendai/late.json"));
        std::fs::copy(&file, dir.path().join("backendai/late.json")).unwrap();
        assert_eq!(session.mounts(&started_earlier, &[]), planned);
        let resources = session.resources();
        assert_eq!(resources.cpus, Some(1));
        assert_eq!(resources.memory_bytes, Some(536_870_912));
    }

    #[test]
    fn limits_are_the_least_finite_remainder() {
        let answer = json!({
            "presets": [
                {"name": "small", "resource_slots": {"cpu": "1", "mem": "1073741824"}, "allocatable": true},
                {"name": "large", "resource_slots": {"cpu": "8", "mem": "17179869184"}, "allocatable": false},
            ],
            "keypair_remaining": {"cpu": "Infinity", "mem": "Infinity"},
            "group_remaining": {"cpu": "NaN", "mem": "NaN"},
            "scaling_group_remaining": {"cpu": "4.000000", "mem": "8589934592.000000"},
            "scaling_groups": {"default": {"remaining": {"cpu": "3.000000", "mem": "8589934592.000000"}}},
        });
        let placement = Placement {
            domain: None,
            project: "default".into(),
            resource_group: Some("default".into()),
        };
        let limits = limits_from(&answer, &placement);
        assert_eq!(limits.max_cpus, 3);
        assert_eq!(limits.max_memory_bytes, 8 << 30);
        assert_eq!(limits.cpus, LimitEnforcement::Enforced);
        assert_eq!(
            limits.presets[1],
            ResourcePreset {
                name: "large".into(),
                cpus: 8.0,
                memory_bytes: 16 << 30,
                allocatable: false
            }
        );
        // Each group's own remainder; a group the answer does not report gets the aggregate.
        assert_eq!(
            free_in(&answer, Some("default")),
            (3.0, (8u64 << 30) as f64)
        );
        assert_eq!(free_in(&answer, Some("other")), (4.0, (8u64 << 30) as f64));
    }

    #[test]
    fn backend_ai_session_names_need_four_characters() {
        assert!(validate_name("abc").is_err());
        assert!(validate_name("abcd").is_ok());
        assert!(validate_name(&generated_name()).is_ok());
    }

    #[test]
    fn image_names_read_well() {
        let image: RemoteImage = serde_json::from_value(json!({
            "name": "stable/python", "registry": "cr.backend.ai", "architecture": "x86_64",
            "tag": "3.9-ubuntu20.04", "aliases": ["python"], "labels": [],
            "base_image_name": "python", "version": "3.9",
            "tags": [{"key": "ubuntu", "value": "20.04"}],
            "resource_limits": [{"key": "mem", "min": "268435456", "max": "Infinity"}, {"key": "cpu", "min": "1", "max": "Infinity"}],
        }))
        .unwrap();
        assert_eq!(
            image.reference(),
            "cr.backend.ai/stable/python:3.9-ubuntu20.04"
        );
        assert_eq!(image.readable_name(), "Python 3.9 (Ubuntu 20.04)");
        assert_eq!(
            image.minimum().as_deref(),
            Some("at least 1 CPU and 256 MiB")
        );
    }
}
