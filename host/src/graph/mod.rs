//! `switchyard graph`: a picture of a pipeline drawn from its resolved
//! manifest alone (no component loaded, no model, no key). `model` turns a
//! [`Manifest`](crate::config::Manifest) into a neutral [`Graph`] of nodes
//! and edges; `mermaid` and `dot` write it as text; `layout` places it in
//! layered columns and `svg` draws that as a standalone SVG document, with
//! no external tool. Every format is deterministic: the same manifest
//! gives byte-identical output.

mod dot;
mod layout;
mod mermaid;
mod model;
mod svg;

use std::path::{Path, PathBuf};

use layout::Layout;
pub use model::{Edge, EdgeKind, Graph, Node, NodeKind};

/// An output format of `switchyard graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Mermaid `flowchart LR`, for Markdown on GitHub and in docs.
    Mermaid,
    /// Graphviz DOT, for `dot -Tpng` and other Graphviz tools.
    Dot,
    /// A standalone SVG document laid out by switchyard itself.
    Svg,
}

impl Format {
    /// The format a file name's extension suggests: `.mmd`/`.mermaid`,
    /// `.dot`/`.gv`, `.svg`; none for anything else.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "mmd" | "mermaid" => Some(Format::Mermaid),
            "dot" | "gv" => Some(Format::Dot),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }
}

/// Why a graph could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The output file could not be written.
    #[error("cannot write the graph to {path}: {source}; check that its folder exists and is writable, or leave out --output to print it")]
    Write {
        /// The file named by `--output`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The graph in `format`, as the full text of a document ending in a
/// newline.
pub fn render(graph: &Graph, format: Format) -> String {
    match format {
        Format::Mermaid => mermaid::render(graph),
        Format::Dot => dot::render(graph),
        Format::Svg => svg::render(graph, &Layout::of(graph)),
    }
}

/// The graph as an `<svg>` element for inlining in an HTML page: the SVG
/// format without its XML declaration, figure lines included.
pub fn render_svg_element(graph: &Graph) -> String {
    svg::render_element(graph, &Layout::of(graph))
}

/// Writes a rendered graph to `path`.
pub fn write_file(path: &Path, text: &str) -> Result<(), GraphError> {
    std::fs::write(path, text).map_err(|source| GraphError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_format_follows_the_file_extension() {
        assert_eq!(
            Format::from_extension(Path::new("a/p.SVG")),
            Some(Format::Svg)
        );
        assert_eq!(Format::from_extension(Path::new("p.gv")), Some(Format::Dot));
        assert_eq!(
            Format::from_extension(Path::new("p.mmd")),
            Some(Format::Mermaid)
        );
        assert_eq!(Format::from_extension(Path::new("p.txt")), None);
        assert_eq!(Format::from_extension(Path::new("p")), None);
    }

    #[test]
    fn graph_write_names_the_file_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-folder").join("p.svg");
        let err = write_file(&path, "x").unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
