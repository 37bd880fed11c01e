-- CREATE EXTENSION pulse: catalog schema pulse, functions in the target schema
begin;
select nspname from pg_namespace where nspname = 'pulse';
select e.extname, n.nspname as function_schema
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
 where e.extname = 'pulse';
-- every function the extension installs is documented
select p.proname, obj_description(p.oid, 'pg_proc') is not null as has_comment
  from pg_depend d join pg_proc p on p.oid = d.objid
 where d.refclassid = 'pg_extension'::regclass
   and d.refobjid = (select oid from pg_extension where extname = 'pulse')
   and d.classid = 'pg_proc'::regclass
 order by 1;
rollback;
