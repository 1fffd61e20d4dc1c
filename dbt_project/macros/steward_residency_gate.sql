{#-
  Runs after every model (post-hook in dbt_project.yml), inside the transaction that builds
  it. Steward writes each model's country column and this region's countries into the store
  first; a model that holds a row of another region fails here, so its table is rolled back,
  nothing of the other region stays in this store, and dbt skips everything downstream.
-#}
{% macro steward_residency_gate() %}
    {% if execute and model.config.materialized != 'view' %}
        {% set columns = adapter.get_relation(database=target.database, schema='_steward',
                                              identifier='residency_columns') %}
        {% if columns %}
            {% set found = run_query("select country_column from " ~ columns
                                     ~ " where unique_id = '" ~ model.unique_id ~ "'") %}
            {% if found and found.rows | length > 0 %}
                {{ adapter.dispatch('steward_fail_outside_region')(
                       found.columns[0].values()[0]) }}
            {% else %}
                select 1
            {% endif %}
        {% else %}
            select 1
        {% endif %}
    {% else %}
        select 1
    {% endif %}
{% endmacro %}

{#- A statement that fails, naming the count and an example, when {{ this }} holds a row whose
    `column` is not one of this region's countries. -#}
{% macro default__steward_fail_outside_region(column) %}
    select error('blocked by policy: region.rows_outside_region: ' || count(*)
                 || ' row(s) with a {{ column }} outside '
                 || '{{ var("region") }}, e.g. ' || any_value({{ adapter.quote(column) }}))
    from {{ this }}
    where coalesce({{ adapter.quote(column) }}, '') not in
        (select country from {{ target.database }}._steward.region_countries)
    having count(*) > 0
{% endmacro %}

{#- Postgres has no error(): the check raises from an anonymous block instead. -#}
{% macro postgres__steward_fail_outside_region(column) %}
    do $steward$
    declare
        outside bigint;
        example text;
    begin
        select count(*), min({{ adapter.quote(column) }}) into outside, example
        from {{ this }}
        where coalesce({{ adapter.quote(column) }}, '') not in
            (select country from _steward.region_countries);
        if outside > 0 then
            raise exception 'blocked by policy: region.rows_outside_region: % row(s) with a '
                '{{ column }} outside {{ var("region") }}, e.g. %', outside, example;
        end if;
    end
    $steward$
{% endmacro %}
