-- ab_hash: GrowthBook-compatible FNV-1a 32 hashing
begin;
-- GrowthBook's documented example and cases.json vectors (v2)
select seed, unit_id, ab_hash(seed, unit_id, 2) as bucket
  from (values ('feature', '123'), ('seed', 'a'), ('seed', 'b'), ('foo', 'ab'),
               ('89123klj', '8952klfjas09ujkasdf'), ('90850943850283058242805', '123')) t(seed, unit_id)
 order by seed, unit_id;
-- default hash_version is 2
select ab_hash('feature', '123') = ab_hash('feature', '123', 2) as default_is_v2;
-- v1 concatenates unit_id || seed, 1000 buckets
select seed, unit_id, ab_hash(seed, unit_id, 1) as bucket
  from (values ('', 'a'), ('b', 'a'), ('ef', 'd'), ('', '123')) t(seed, unit_id)
 order by seed, unit_id;
-- code points, not UTF-8 bytes
select ab_hash('exp-1', '用户-42', 2) as cjk, ab_hash('', '😀', 2) as emoji;
-- unknown versions and NULL arguments give NULL
select ab_hash('seed', 'a', 0) is null as v0, ab_hash('seed', 'a', 3) is null as v3,
       ab_hash(null, 'a') is null as null_seed, ab_hash('seed', null) is null as null_unit;
-- buckets are roughly uniform: 10,000 units into 10 deciles
select floor(ab_hash('uniformity', i::text) * 10) as decile, count(*) between 900 and 1100 as balanced
  from generate_series(1, 10000) i
 group by 1 order by 1;
-- contract: immutable, strict, parallel safe, documented
select provolatile, proisstrict, proparallel,
       obj_description(oid, 'pg_proc') is not null as has_comment
  from pg_proc where proname = 'ab_hash';
rollback;
