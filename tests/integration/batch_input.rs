//! Batch mode writes exactly one record per input line, in order: malformed
//! lines become error records for that line and never stop the batch.

use switchyard::batch::BatchOptions;
use switchyard_tests::{batch, hostile_manifest, pipeline};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_malformed_lines_become_error_records_and_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &hostile_manifest("cpu-ms = 100"))
        .await
        .unwrap();
    let input = concat!(
        "{\"id\":\"a\",\"input\":{\"do\":\"echo\"}}\n",
        "{this is not json\n",
        "\n",
        "[1,2,3]\n",
        "{\"id\":\"b\",\"input\":{\"do\":\"panic\"}}\n",
        "{\"id\":\"c\"}\n",
        "{\"id\":7,\"input\":{\"do\":\"echo\"},\"expect\":{\"route\":\"x\"}}\n",
        "{\"input\":{\"do\":\"echo\"}}", // last line without newline
    );
    let (records, summary) = batch(
        &p,
        input.as_bytes(),
        BatchOptions {
            concurrency: 4,
            ..Default::default()
        },
    )
    .await;
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["a", "line-2", "line-4", "b", "c", "7", "line-8"],
        "one record per non-blank line, in order"
    );
    let lines: Vec<u64> = records
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 2, 4, 5, 6, 7, 8]);
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["error"]["kind"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        kinds,
        [
            "ok",
            "invalid-input",
            "invalid-input",
            "trap",
            "invalid-input",
            "ok",
            "ok"
        ]
    );
    assert!(records[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 2: not valid JSON"));
    assert!(records[4]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing field `input`"));
    assert_eq!(records[3]["error"]["node"], "w");
    assert_eq!(summary.runs, 7);
    assert_eq!(summary.ok, 3);
    assert_eq!(summary.errors["invalid-input"], 3);
    assert_eq!(summary.errors["trap"], 1);
}
