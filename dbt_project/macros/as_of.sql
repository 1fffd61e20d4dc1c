{#- The reference time for "recent" features: the `as_of` var when given, else Steward's clock,
    which Steward writes into the store before each build (so STEWARD_NOW moves it too), else
    the database's own time. -#}
{% macro as_of() -%}
    {%- if var('as_of', none) -%}
        timestamp '{{ var("as_of") }}'
    {%- elif execute and adapter.get_relation(database=target.database, schema='_steward',
                                              identifier='clock') -%}
        (select now from {{ target.database }}._steward.clock)
    {%- else -%}
        current_timestamp::timestamp
    {%- endif -%}
{%- endmacro %}
