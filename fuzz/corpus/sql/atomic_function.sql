create function public.add(a integer, b integer) returns integer
  language sql immutable
  begin atomic
    select case when a is null then 0 else a end + b;
  end;
create table after_fn (id int);
create function g() returns void as $body$ begin perform 1; end; $body$ language plpgsql;
