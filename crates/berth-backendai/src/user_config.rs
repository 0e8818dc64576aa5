//! The user's dotfiles and bootstrap script on a cluster: Backend.AI keeps them per keypair
//! under `/user-config/dotfiles` and `/user-config/bootstrap-script` and places them in every
//! new session, exactly what the local engine does with its own copy. The same rules apply
//! before anything is sent (the server's limit is the same 64 KiB for the whole set).

use berth_core::dotfiles::{validate_dotfile_path, validate_dotfiles};
use berth_core::{Dotfile, Error, ErrorCode, Result};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::connection::Connection;

#[derive(Deserialize)]
struct RemoteDotfile {
    path: String,
    #[serde(alias = "perm")]
    permission: String,
    data: String,
}

fn query(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub async fn list_dotfiles(connection: &Connection) -> Result<Vec<Dotfile>> {
    let remote: Vec<RemoteDotfile> = connection
        .call_json(Method::GET, "user-config/dotfiles", None)
        .await?;
    let mut dotfiles: Vec<Dotfile> = remote
        .into_iter()
        .map(|d| Dotfile {
            mode: u32::from_str_radix(&d.permission, 8).unwrap_or(0o644),
            path: d.path,
            content: d.data,
        })
        .collect();
    dotfiles.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(dotfiles)
}

pub async fn set_dotfile(connection: &Connection, dotfile: Dotfile) -> Result<()> {
    validate_dotfile_path(&dotfile.path)?;
    let mut all = list_dotfiles(connection).await?;
    let exists = all.iter().any(|d| d.path == dotfile.path);
    all.retain(|d| d.path != dotfile.path);
    all.push(dotfile.clone());
    validate_dotfiles(&all)?;
    let body = json!({
        "path": dotfile.path,
        "data": dotfile.content,
        "permission": format!("{:03o}", dotfile.mode & 0o777),
    });
    let method = if exists { Method::PATCH } else { Method::POST };
    connection
        .call(method, "user-config/dotfiles", Some(&body))
        .await?;
    Ok(())
}

pub async fn remove_dotfile(connection: &Connection, path: &str) -> Result<()> {
    if !list_dotfiles(connection)
        .await?
        .iter()
        .any(|d| d.path == path)
    {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!("There is no dotfile \"{path}\"."),
        ));
    }
    connection
        .call(
            Method::DELETE,
            &format!("user-config/dotfiles?path={}", query(path)),
            None,
        )
        .await?;
    Ok(())
}

pub async fn bootstrap_script(connection: &Connection) -> Result<Option<String>> {
    // The answer is a bare JSON string; an empty one means there is none.
    let script: Option<String> = connection
        .call_json(Method::GET, "user-config/bootstrap-script", None)
        .await?;
    Ok(script.filter(|s| !s.is_empty()))
}

pub async fn set_bootstrap_script(connection: &Connection, script: Option<String>) -> Result<()> {
    let script = script.unwrap_or_default();
    if script.len() > berth_core::dotfiles::MAX_DOTFILES_BYTES {
        return Err(Error::invalid_input(format!(
            "The bootstrap script is {} bytes; Backend.AI keeps at most {} bytes.",
            script.len(),
            berth_core::dotfiles::MAX_DOTFILES_BYTES
        )));
    }
    connection
        .call(
            Method::POST,
            "user-config/bootstrap-script",
            Some(&json!({ "script": script })),
        )
        .await?;
    Ok(())
}
