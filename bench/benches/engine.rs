//! Criterion benches of the decision engine (short): Portcullis with keys, with string ids,
//! and the two floors, over one slice of the 10k-member query stream.

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_bench::data::{self, Shape};
use portcullis_bench::engines::Engine;
use portcullis_bench::engines::dense::Dense;
use portcullis_bench::engines::hashfloor::HashFloor;
use portcullis_bench::engines::portcullis::{self as pc, ByIds, Keyed};

fn engines(c: &mut Criterion) {
    let shape = Shape::with_members(10_000);
    let queries = data::queries(&shape, 4096);
    let ids = data::query_ids(&shape, &queries);
    let index = pc::build(&shape);
    let keyed = Keyed {
        index: &index,
        orgs: shape.orgs as u32,
    };
    let by_ids = ByIds {
        index: &index,
        ids: &ids,
    };
    let floor = HashFloor::build(&shape);
    let dense = Dense::build(&shape);
    let mut group = c.benchmark_group("check_4096_queries");
    group.sample_size(20);
    group.bench_function("portcullis", |b| {
        b.iter(|| {
            queries
                .iter()
                .enumerate()
                .filter(|(i, q)| keyed.check(*i, q))
                .count()
        })
    });
    group.bench_function("portcullis_string_ids", |b| {
        b.iter(|| {
            queries
                .iter()
                .enumerate()
                .filter(|(i, q)| by_ids.check(*i, q))
                .count()
        })
    });
    group.bench_function("hash_map_floor", |b| {
        b.iter(|| {
            queries
                .iter()
                .enumerate()
                .filter(|(i, q)| floor.check(*i, q))
                .count()
        })
    });
    group.bench_function("dense_floor", |b| {
        b.iter(|| {
            queries
                .iter()
                .enumerate()
                .filter(|(i, q)| dense.check(*i, q))
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, engines);
criterion_main!(benches);
