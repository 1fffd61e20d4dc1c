{#-
  Runs before every model (pre-hook in dbt_project.yml). Steward writes the policy verdicts of
  the run into the store first; a model with a violation fails here, before it reads anything,
  and dbt skips everything downstream of it.
-#}
{% macro steward_policy_gate() %}
    {% if execute %}
        {% set verdicts = adapter.get_relation(database=target.database, schema='_steward',
                                               identifier='policy_verdicts') %}
        {% if verdicts %}
            {% set found = run_query("select reason from " ~ verdicts ~ " where unique_id = '"
                                     ~ model.unique_id ~ "'") %}
            {% if found and found.rows | length > 0 %}
                {{ exceptions.raise_compiler_error(
                    "blocked by policy: " ~ (found.columns[0].values() | join("; "))) }}
            {% endif %}
        {% endif %}
    {% endif %}
    select 1
{% endmacro %}
